"""Requests the provider tests share: one cached prefix then the pack, and a round of tool
turns."""

from __future__ import annotations

from typing import Any

from blockpass.providers.base import (
    AssistantTurn,
    CacheTtl,
    ModelRequest,
    PartKind,
    RequestPart,
    ToolCall,
    ToolResult,
    ToolResultsTurn,
    Turn,
)
from blockpass.tooldefs import ToolDefinition

LOOKUP = ToolDefinition(
    name="lookup_term",
    description="Look a term up in the word list.",
    parameters={"type": "object", "properties": {"term": {"type": "string"}}},
    strict=False,
)


def prefix_and_pack(
    *,
    model: str,
    system: str,
    cache_ttl: CacheTtl | None,
    user: str,
    max_tokens: int,
    schema: dict[str, Any],
    cache_key: str = "",
) -> ModelRequest:
    """``system`` as the prefix part (its breakpoint's TTL ``cache_ttl``), ``user`` as the pack."""
    return ModelRequest(
        model=model,
        parts=(
            RequestPart(kind=PartKind.PREFIX, text=system, cache_ttl=cache_ttl),
            RequestPart(kind=PartKind.PACK, text=user),
        ),
        max_tokens=max_tokens,
        schema=schema,
        cache_key=cache_key,
    )


def lookup_turns(call_id: str, *, text: str = "") -> tuple[Turn, ...]:
    """The model calls ``LOOKUP`` (after ``text``) under the vendor's ``call_id``; the tool
    answers."""
    call = ToolCall(id=call_id, name=LOOKUP.name, arguments={"term": "utilize"})
    return (
        AssistantTurn(text=text, tool_calls=(call,)),
        ToolResultsTurn(results=(ToolResult(call_id=call_id, output="prefer: use"),)),
    )
