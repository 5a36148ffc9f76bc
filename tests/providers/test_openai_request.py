"""The bodies the OpenAI adapter sends for a request's parts and tool turns, on Chat
Completions and on the Responses API: pinned byte for byte, checked against the SDK's request
types, and sent to the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming
from openai.types.responses.response_create_params import ResponseCreateParamsNonStreaming

from blockpass.packformat import RESULT_SCHEMA
from blockpass.providers.base import (
    CacheTtl,
    ModelRequest,
    OutputMechanism,
    PartKind,
    RequestPart,
    StopReason,
    model_profile,
)
from blockpass.providers.openai import OpenAIProvider
from tests.providers.openai_support import MakeProvider, openai_providers
from tests.providers.requests import LOOKUP, lookup_turns
from tests.providers.sdk_types import mismatch
from tests.sandbox.support import StartSandbox, pack

CHAT = "gpt-4.1-mini"  # Chat Completions, caches without breakpoints
SOL = "gpt-6-sol"  # the Responses API, explicit breakpoints
CHAT_PARAMS = CompletionCreateParamsNonStreaming
RESPONSES_PARAMS = ResponseCreateParamsNonStreaming
SCHEMA = {"type": "object"}
TURNS = lookup_turns("call_1")
PREFIX = RequestPart(kind=PartKind.PREFIX, text="Guide.", cache_ttl=CacheTtl.FIVE_MINUTES)
CONTEXT = RequestPart(kind=PartKind.CONTEXT, text="Retrieved rule.")


@pytest.fixture
async def provider_for() -> AsyncIterator[MakeProvider]:
    async with openai_providers() as make:
        yield make


def offline(model: str, output: OutputMechanism = OutputMechanism.JSON_SCHEMA) -> OpenAIProvider:
    """An adapter that only builds bodies: nothing listens at its address."""
    profile = replace(model_profile(model), output=output)
    return OpenAIProvider(profile=profile, api_key="unused", base_url="http://127.0.0.1:9/v1")


def parts_request(model: str, *parts: RequestPart, **fields: Any) -> ModelRequest:
    return ModelRequest(
        model=model, parts=parts, max_tokens=100, schema=SCHEMA, cache_key="k", **fields
    )


def pack_part(text: str) -> RequestPart:
    return RequestPart(kind=PartKind.PACK, text=text)


def test_a_prefix_and_a_pack_are_sent_as_exactly_this_json_on_chat_completions() -> None:
    body = offline(CHAT).request_body(parts_request(CHAT, PREFIX, pack_part("<pack/>")))
    assert json.dumps(body) == (
        '{"model": "gpt-4.1-mini", "max_completion_tokens": 100, '
        '"response_format": {"type": "json_schema", "json_schema": {"name": "record_results", '
        '"schema": {"type": "object"}, "strict": true}}, '
        '"messages": [{"role": "system", "content": "Guide."}, '
        '{"role": "user", "content": "<pack/>"}], "prompt_cache_key": "k"}'
    )
    assert mismatch(body, CHAT_PARAMS) is None


def test_a_prefix_and_a_pack_are_sent_as_exactly_this_json_on_the_responses_api() -> None:
    body = offline(SOL).request_body(parts_request(SOL, PREFIX, pack_part("<pack/>")))
    assert json.dumps(body) == (
        '{"model": "gpt-6-sol", "max_output_tokens": 100, '
        '"text": {"format": {"type": "json_schema", "name": "record_results", '
        '"schema": {"type": "object"}, "strict": true}}, '
        '"input": [{"role": "system", "content": [{"type": "input_text", "text": "Guide.", '
        '"prompt_cache_breakpoint": {"mode": "explicit"}}]}, '
        '{"role": "user", "content": "<pack/>"}], "prompt_cache_key": "k", '
        '"prompt_cache_options": {"mode": "explicit", "ttl": "30m"}}'
    )
    assert mismatch(body, RESPONSES_PARAMS) is None


@pytest.mark.parametrize("model", [CHAT, SOL])
def test_the_prefix_is_the_same_leading_bytes_for_two_packs_and_any_context(model: str) -> None:
    """No explicit breakpoint: the prompt's first bytes up to the prefix's end are what the
    cache matches. With one, the marked part is the same, and the context is a part after it."""
    adapter = offline(model)

    def sent(*parts: RequestPart) -> str:
        return json.dumps(adapter.request_body(parts_request(model, *parts)))

    one = sent(PREFIX, pack_part("<pack>one</pack>"))
    two = sent(PREFIX, CONTEXT, pack_part("<pack>two</pack>"))
    end = one.index("Guide.") + len("Guide.")
    assert two[:end] == one[:end]
    assert ("Guide.\\n\\nRetrieved rule." in two) is (model == CHAT)


def test_a_context_part_gets_its_own_unmarked_text_part_after_an_explicit_breakpoint() -> None:
    body = offline(SOL).request_body(parts_request(SOL, PREFIX, CONTEXT, pack_part("<pack/>")))
    assert body["input"][0]["content"] == [
        {
            "type": "input_text",
            "text": "Guide.",
            "prompt_cache_breakpoint": {"mode": "explicit"},
        },
        {"type": "input_text", "text": "Retrieved rule."},
    ]
    assert mismatch(body, RESPONSES_PARAMS) is None


def test_tool_turns_follow_the_pack_as_chat_messages() -> None:
    body = offline(CHAT, OutputMechanism.STRICT_TOOL_AUTO).request_body(
        parts_request(CHAT, PREFIX, pack_part("<pack/>"), tools=(LOOKUP,), turns=TURNS)
    )
    assert [tool["function"]["name"] for tool in body["tools"]] == [
        "record_results",
        "lookup_term",
    ]
    assert body["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "lookup_term", "arguments": '{"term": "utilize"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "prefer: use"},
    ]
    assert mismatch(body, CHAT_PARAMS) is None


def test_tool_turns_follow_the_pack_as_responses_items() -> None:
    turns = lookup_turns("call_1", text="Checking.")
    body = offline(SOL, OutputMechanism.STRICT_TOOL_FORCED).request_body(
        parts_request(SOL, PREFIX, pack_part("<pack/>"), tools=(LOOKUP,), turns=turns)
    )
    assert [tool["name"] for tool in body["tools"]] == ["record_results", "lookup_term"]
    assert body["input"][2:] == [
        {"role": "assistant", "content": "Checking."},
        {
            "type": "function_call",
            "call_id": "call_1",
            "name": "lookup_term",
            "arguments": '{"term": "utilize"}',
        },
        {"type": "function_call_output", "call_id": "call_1", "output": "prefer: use"},
    ]
    assert mismatch(body, RESPONSES_PARAMS) is None


@pytest.mark.anyio
@pytest.mark.parametrize("model", [CHAT, SOL])
async def test_a_request_with_context_and_tool_turns_is_accepted_over_http(
    start_sandbox: StartSandbox, provider_for: MakeProvider, guide: str, model: str
) -> None:
    provider = provider_for(start_sandbox(), model)
    request = ModelRequest(
        model=model,
        parts=(
            replace(PREFIX, text=guide),
            CONTEXT,
            pack_part(pack("Click OK to abort.")),
        ),
        max_tokens=500,
        schema=RESULT_SCHEMA,
        tools=(LOOKUP,),
        turns=TURNS,
        cache_key="task-fingerprint",
    )
    first = await provider.complete(request)
    again = await provider.complete(request)
    assert first.stop_reason in (StopReason.END, StopReason.TOOL_CALL)
    assert again.usage.cache_read > 1024
