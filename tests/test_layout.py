from __future__ import annotations

import hashlib
import json

from blockpass.blocks import Block, BlockKind
from blockpass.layout import build_request, choose_ttl
from blockpass.packformat import RESULT_SCHEMA
from blockpass.packing import Pack, pack_id
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import CacheTtl, PartKind, model_profile
from blockpass.task import DEFAULT_INSTRUCTIONS, Task

TASK = Task(
    instructions=DEFAULT_INSTRUCTIONS,
    guide="Use active voice.",
    guide_name="guide.md",
    schema=RESULT_SCHEMA,
)
PROFILE = model_profile("claude-sonnet-4-5")


def pack(*texts: str) -> Pack:
    blocks = tuple(
        Block.create(document_id="d.md", index=n, kind=BlockKind.PARAGRAPH, text=t)
        for n, t in enumerate(texts)
    )
    return Pack(
        id=pack_id(blocks), blocks=blocks, input_tokens=10, estimated_output=40 * len(blocks)
    )


def prefix_bytes(texts: tuple[str, ...]) -> bytes:
    provider = AnthropicProvider(profile=PROFILE, api_key="unused", base_url="http://127.0.0.1:9")
    body = provider.request_body(build_request(TASK, pack(*texts), PROFILE, CacheTtl.FIVE_MINUTES))
    # Everything the cache key covers: tools, system, and the output format (in sent order).
    cached = {key: body[key] for key in ("tools", "system", "output_config") if key in body}
    return json.dumps(cached, ensure_ascii=False).encode()


def test_the_cached_prefix_is_byte_identical_across_every_request_of_a_run() -> None:
    first = prefix_bytes(("One short paragraph.",))
    assert prefix_bytes(("Another one.", "And a second block.")) == first
    assert prefix_bytes(tuple(f"Block {n}." for n in range(40))) == first


def test_the_cached_prefix_bytes_are_pinned() -> None:
    """Any change here changes every user's cache key: change this hash only on purpose."""
    data = prefix_bytes(("x",))
    assert data.startswith(
        b'{"system": [{"type": "text", "text": "You are a copy editor applying a style guide'
    )
    assert (
        b'<style_guide name=\\"guide.md\\">\\nUse active voice.\\n</style_guide>", "cache_control": {"type": "ephemeral", "ttl": "5m"}}]'
        in data
    )
    assert hashlib.sha256(data).hexdigest() == PINNED_PREFIX_SHA256


PINNED_PREFIX_SHA256 = "cdc8f62e9d43691560011e3ce8480a0dc3c60ca8138ad9fa99f1a317b7a9abe7"


def test_a_pack_context_follows_the_breakpoint_and_leaves_the_pinned_prefix_unchanged() -> None:
    request = build_request(
        TASK, pack("x"), PROFILE, CacheTtl.FIVE_MINUTES, context="Retrieved: prefer 'use'."
    )
    assert [part.kind for part in request.parts] == [
        PartKind.PREFIX,
        PartKind.CONTEXT,
        PartKind.PACK,
    ]
    provider = AnthropicProvider(profile=PROFILE, api_key="unused", base_url="http://127.0.0.1:9")
    body = provider.request_body(request)
    assert body["system"][1] == {"type": "text", "text": "Retrieved: prefer 'use'."}
    cached = {"system": body["system"][:1], "output_config": body["output_config"]}
    data = json.dumps(cached, ensure_ascii=False).encode()
    assert hashlib.sha256(data).hexdigest() == PINNED_PREFIX_SHA256
    assert build_request(TASK, pack("x"), PROFILE, None, context="").parts[1].kind is PartKind.PACK


def test_the_ttl_is_5m_unless_the_gap_between_uses_is_longer() -> None:
    assert (
        choose_ttl(prefix_tokens=5000, min_cacheable=1024, expected_gap_seconds=10)
        is CacheTtl.FIVE_MINUTES
    )
    assert (
        choose_ttl(prefix_tokens=5000, min_cacheable=1024, expected_gap_seconds=900)
        is CacheTtl.ONE_HOUR
    )


def test_no_breakpoint_below_the_model_minimum() -> None:
    assert choose_ttl(prefix_tokens=1023, min_cacheable=1024, expected_gap_seconds=0) is None
    request = build_request(TASK, pack("x"), PROFILE, None)
    provider = AnthropicProvider(profile=PROFILE, api_key="unused", base_url="http://127.0.0.1:9")
    assert "cache_control" not in provider.request_body(request)["system"][0]


def test_max_tokens_leaves_room_above_the_estimate_within_the_model_maximum() -> None:
    request = build_request(TASK, pack("a", "b"), PROFILE, None)
    assert request.max_tokens == 2 * 80 + 256
