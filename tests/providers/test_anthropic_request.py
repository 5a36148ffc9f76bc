"""The Messages API body the Anthropic adapter sends for a request's parts and tool turns:
pinned byte for byte, checked against the SDK's request type, and sent to the sandbox."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

from blockpass.packformat import RESULT_SCHEMA
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import (
    CacheTtl,
    ModelProfile,
    ModelRequest,
    OutputMechanism,
    PartKind,
    RequestPart,
    StopReason,
    model_profile,
)
from blockpass.sandbox import DEFAULT_API_KEY
from tests.providers.requests import LOOKUP, lookup_turns
from tests.providers.sdk_types import mismatch
from tests.sandbox.support import StartSandbox, pack

MODEL = "claude-sonnet-4-5"
SCHEMA = {"type": "object"}
TURNS = lookup_turns("toolu_1", text="Checking the word list.")


def offline(profile: ModelProfile) -> AnthropicProvider:
    """An adapter that only builds bodies: nothing listens at its address."""
    return AnthropicProvider(profile=profile, api_key="unused", base_url="http://127.0.0.1:9")


def parts_request(*parts: RequestPart, **fields: Any) -> ModelRequest:
    return ModelRequest(model=MODEL, parts=parts, max_tokens=100, schema=SCHEMA, **fields)


def prefix(text: str, ttl: CacheTtl | None = CacheTtl.ONE_HOUR) -> RequestPart:
    return RequestPart(kind=PartKind.PREFIX, text=text, cache_ttl=ttl)


def pack_part(text: str, ttl: CacheTtl | None = None) -> RequestPart:
    return RequestPart(kind=PartKind.PACK, text=text, cache_ttl=ttl)


def test_a_prefix_and_a_pack_are_sent_as_exactly_this_json() -> None:
    body = offline(model_profile(MODEL)).request_body(
        parts_request(prefix("Instructions."), pack_part("<pack/>"))
    )
    assert json.dumps(body) == (
        '{"model": "claude-sonnet-4-5", "max_tokens": 100, '
        '"output_config": {"format": {"type": "json_schema", "schema": {"type": "object"}}}, '
        '"system": [{"type": "text", "text": "Instructions.", '
        '"cache_control": {"type": "ephemeral", "ttl": "1h"}}], '
        '"messages": [{"role": "user", "content": "<pack/>"}]}'
    )
    assert mismatch(body, MessageCreateParamsNonStreaming) is None


def test_a_forced_tool_model_with_tools_to_call_gets_the_result_tool_first_and_must_call_some_tool() -> (
    None
):
    profile = replace(model_profile(MODEL), output=OutputMechanism.STRICT_TOOL_FORCED)
    body = offline(profile).request_body(
        parts_request(prefix("I."), pack_part("<pack/>"), tools=(LOOKUP,))
    )
    assert [tool["name"] for tool in body["tools"]] == ["record_results", "lookup_term"]
    assert json.dumps(body["tools"][1]) == (
        '{"name": "lookup_term", "description": "Look a term up in the word list.", '
        '"input_schema": {"properties": {"term": {"type": "string"}}, "type": "object"}, '
        '"strict": false}'
    )
    # Forced to the result tool it could never call lookup_term: "any" forces a tool call.
    assert body["tool_choice"] == {"type": "any"}
    assert list(body) == ["model", "max_tokens", "tools", "tool_choice", "system", "messages"]
    assert mismatch(body, MessageCreateParamsNonStreaming) is None


def test_every_instruction_part_is_a_system_block_and_breakpoints_mark_their_parts() -> None:
    """Mixed TTLs keep their order (1h before 5m, as the API requires), four at most, the
    last on the pack."""
    request = parts_request(
        prefix("Instructions."),
        prefix("Core rules.", CacheTtl.FIVE_MINUTES),
        RequestPart(kind=PartKind.CONTEXT, text="Retrieved rule.", cache_ttl=CacheTtl.FIVE_MINUTES),
        RequestPart(kind=PartKind.CONTEXT, text="Per pack, not cached."),
        pack_part("<pack/>", CacheTtl.FIVE_MINUTES),
    )
    body = offline(model_profile(MODEL)).request_body(request)
    marks = [block.get("cache_control", {}).get("ttl") for block in body["system"]]
    assert [block["text"] for block in body["system"]] == [
        "Instructions.",
        "Core rules.",
        "Retrieved rule.",
        "Per pack, not cached.",
    ]
    assert marks == ["1h", "5m", "5m", None]
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "text",
                    "text": "<pack/>",
                    "cache_control": {"type": "ephemeral", "ttl": "5m"},
                }
            ],
        }
    ]
    assert mismatch(body, MessageCreateParamsNonStreaming) is None


def test_the_cached_prefix_is_the_same_bytes_for_two_packs_and_any_context() -> None:
    adapter = offline(model_profile(MODEL))

    def cached_prefix(*parts: RequestPart) -> str:
        body = adapter.request_body(parts_request(*parts))
        return json.dumps([body.get("tools"), body["output_config"], body["system"][0]])

    first = cached_prefix(prefix("Guide."), pack_part("<pack>one</pack>"))
    context = RequestPart(kind=PartKind.CONTEXT, text="Retrieved rule.")
    assert cached_prefix(prefix("Guide."), context, pack_part("<pack>two</pack>")) == first


def test_tool_turns_follow_the_pack_as_assistant_tool_use_and_user_tool_result() -> None:
    body = offline(model_profile(MODEL)).request_body(
        parts_request(prefix("I."), pack_part("<pack/>"), tools=(LOOKUP,), turns=TURNS)
    )
    assert body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking the word list."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "lookup_term",
                    "input": {"term": "utilize"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": "prefer: use",
                    "is_error": False,
                }
            ],
        },
    ]
    assert mismatch(body, MessageCreateParamsNonStreaming) is None


@pytest.mark.anyio
async def test_a_request_with_context_breakpoints_and_tool_turns_is_accepted_over_http(
    start_sandbox: StartSandbox, guide: str
) -> None:
    """The sandbox rejects what the API rejects (more than 4 breakpoints, a 1h breakpoint after
    a 5m one, a prefilled assistant turn): this request passes, and its prefix is cached."""
    running = start_sandbox()
    adapter = AnthropicProvider(
        profile=model_profile(MODEL), api_key=DEFAULT_API_KEY, base_url=running.server.base_url
    )
    request = ModelRequest(
        model=MODEL,
        parts=(
            prefix(guide),
            RequestPart(kind=PartKind.CONTEXT, text="Retrieved rule."),
            pack_part(pack("Click OK to abort."), CacheTtl.FIVE_MINUTES),
        ),
        max_tokens=500,
        schema=RESULT_SCHEMA,
        tools=(LOOKUP,),
        turns=TURNS,
    )
    try:
        first = await adapter.complete(request)
        again = await adapter.complete(request)
    finally:
        await adapter.aclose()
    assert first.stop_reason in (StopReason.END, StopReason.TOOL_CALL)
    assert first.usage.cache_write_1h > 1024
    assert again.usage.cache_read == first.usage.cache_write
