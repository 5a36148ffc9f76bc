"""A Chat Completions prompt laid out for the prompt cache (``cache.py``).

The prompt is tools, then the response format, then every message's content parts, each
message headed by its role: that order is what the prefix digests cover, so changing the
tools or the format breaks the prefix; ``reasoning_effort`` and ``parallel_tool_calls`` are
folded into the seed because changing them breaks it too (``PROVIDERS.md``). The implicit
breakpoint of GPT-5.6+ sits at the end of the latest user or tool message.
"""

from __future__ import annotations

import hashlib
import json

from blockpass.sandbox.openai.cache import (
    BREAKPOINT_TTLS,
    EXTENDED_SECONDS,
    IN_MEMORY_LIFETIME,
    IN_MEMORY_SECONDS,
    Mark,
    Segment,
    block_marks,
    breakpoint_marks,
)
from blockpass.sandbox.openai.models import Caching
from blockpass.sandbox.openai.request import ChatRequest, JsonObject
from blockpass.tokens import TokenizerFamily

# Parts other than text (images, audio, files) count a flat number of tokens: the responder
# never looks at them.
OTHER_PART_TOKENS = 765


def _dumps(value: object) -> str:
    # Key order as sent: a cached prefix needs byte-identical JSON, key order included.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def prompt_segments(request: ChatRequest) -> list[Segment]:
    segments = []
    if request.tools:
        segments.append(Segment(text=_dumps(request.tools)))
    if request.response_format is not None:
        segments.append(Segment(text=_dumps(request.response_format)))
    last_turn = max(
        (
            index
            for index, message in enumerate(request.messages)
            if message["role"] in ("user", "tool")
        ),
        default=len(request.messages) - 1,
    )
    for index, message in enumerate(request.messages):
        header = f"{message['role']}:\n"
        content = message.get("content")
        parts: list[JsonObject] = (
            [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        )
        if message.get("tool_calls"):
            parts.append({"type": "text", "text": _dumps(message["tool_calls"])})
        for number, part in enumerate(parts):
            marker = part.get("prompt_cache_breakpoint")
            segments.append(
                Segment(
                    text=(header if number == 0 else "") + _part_text(part),
                    breakpoint_ttl=BREAKPOINT_TTLS[marker.get("ttl", "30m")] if marker else None,
                    implicit=index == last_turn and number == len(parts) - 1,
                )
            )
    return segments


def _part_text(part: JsonObject) -> str:
    if part.get("type") == "text":
        return str(part["text"])
    # Keyed by the part's content, then padded with one-token pieces to the flat count.
    stripped = {key: value for key, value in part.items() if key != "prompt_cache_breakpoint"}
    digest = hashlib.sha256(_dumps(stripped).encode()).hexdigest()
    return f"[{part.get('type')}:{digest}]" + " x" * OTHER_PART_TOKENS


def prompt_marks(request: ChatRequest) -> tuple[list[Mark], int]:
    """The cache marks of the prompt and its token count (``cache.py``)."""
    seed = hashlib.sha256(request.model.id.encode())
    seed.update(f"|{request.reasoning_effort}|{request.parallel_tool_calls}".encode())
    family = TokenizerFamily.CLASSIC
    segments = prompt_segments(request)
    if request.model.caching is Caching.BLOCKS:
        ttl = EXTENDED_SECONDS if request.extended_retention else IN_MEMORY_SECONDS
        lifetime = EXTENDED_SECONDS if request.extended_retention else IN_MEMORY_LIFETIME
        return block_marks(seed.digest(), segments, family, ttl=ttl, lifetime=lifetime)
    implicit_ttl = None if request.cache_mode == "explicit" else BREAKPOINT_TTLS["30m"]
    return breakpoint_marks(seed.digest(), segments, family, implicit_ttl=implicit_ttl)
