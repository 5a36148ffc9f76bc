"""Packs into provider-neutral requests for one task and model, and what they count.

Every request of a run carries the same byte-stable prefix (``layout.build_request``) under
one cache key, the task's fingerprint; the TTL follows the expected gap between calls.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from blockpass.layout import build_request, choose_ttl
from blockpass.packing import Pack
from blockpass.providers.base import (
    AssistantTurn,
    CacheTtl,
    ModelProfile,
    ModelRequest,
    PartKind,
    Turn,
)
from blockpass.providers.tooldefs import longest_wire_form, result_tool
from blockpass.task import Task

__all__ = ["RequestLayout", "turn_text"]


class RequestLayout:
    def __init__(self, *, task: Task, profile: ModelProfile, count: Callable[[str], int]) -> None:
        self.profile = profile
        self._task = task
        self._count = count
        self._cache_key = task.fingerprint(profile.id)
        self.prefix_tokens = count(task.system_prefix)
        # Some vendors get the schema as a tool too and bill it beside the prefix that holds
        # it: counted in its most verbose wire form (a Chat Completions tool).
        self._tool_tokens = count(longest_wire_form(result_tool(task.schema)))

    def cached_tokens(self, pack: Pack) -> int:
        """What the provider caches of a request for ``pack``: the prompt up to its last
        breakpoint (the prefix, the shared units, a context that recurs), once that is long
        enough for the model to cache; 0 when it is not."""
        context = pack.context
        recurring = context.tokens if context.cached else 0
        reach = self.prefix_tokens + context.shared.tokens + recurring
        return reach if reach >= self.profile.min_cacheable else 0

    def request(self, pack: Pack, *, expected_gap_seconds: float) -> ModelRequest:
        def ttl(cached_tokens: int) -> CacheTtl | None:
            return choose_ttl(
                prefix_tokens=cached_tokens,
                min_cacheable=self.profile.min_cacheable,
                expected_gap_seconds=expected_gap_seconds,
            )

        context = pack.context
        return build_request(
            self._task,
            pack,
            self.profile,
            ttl(self.prefix_tokens),
            cache_key=self._cache_key,
            shared=context.shared.text,
            shared_ttl=ttl(self.prefix_tokens + context.shared.tokens),
            context=context.text,
            # A context that recurs (the whole guide of a fallback) is cached with the prefix.
            context_ttl=ttl(self.prefix_tokens + context.all_tokens) if context.cached else None,
        )

    def input_tokens(self, request: ModelRequest) -> int:
        """The request's input as this run counts tokens: prefix, the parts after it (a
        pack's context, the pack), the result tool, and a tool loop's tools and turns."""
        after_prefix = sum(
            self._count(part.text) for part in request.parts if part.kind is not PartKind.PREFIX
        )
        tools = sum(self._count(longest_wire_form(tool)) for tool in request.tools)
        turns = sum(self._count(turn_text(turn)) for turn in request.turns)
        return self.prefix_tokens + after_prefix + self._tool_tokens + tools + turns


def turn_text(turn: Turn) -> str:
    """What a conversation turn puts before the model: its text, calls and tool outputs."""
    if isinstance(turn, AssistantTurn):
        calls = (call.raw_arguments or json.dumps(call.arguments) for call in turn.tool_calls)
        return "\n".join([turn.text, *calls])
    return "\n".join(result.output for result in turn.results)
