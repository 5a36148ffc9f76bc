"""The model's tool calls come back in every adapter as blockpass's ``ToolCall``s, apart from
the result tool, and go out again in each wire form: arguments as the model wrote them when
they are not a JSON object, tool errors flagged where the API has a flag, and the moving
cache breakpoint on the newest results only."""

from __future__ import annotations

from dataclasses import replace

import anthropic
import pytest

from blockpass.packformat import RESULT_SCHEMA
from blockpass.providers.anthropic import AnthropicProvider, message_response
from blockpass.providers.base import (
    MAX_BREAKPOINTS,
    AssistantTurn,
    CacheTtl,
    ModelRequest,
    PartKind,
    RequestPart,
    StopReason,
    ToolCall,
    ToolResult,
    ToolResultsTurn,
    model_profile,
)
from blockpass.providers.openai import OpenAIProvider
from tests.providers.requests import LOOKUP

PACK = RequestPart(kind=PartKind.PACK, text="<pack/>")
PREFIX = RequestPart(kind=PartKind.PREFIX, text="Guide.", cache_ttl=CacheTtl.ONE_HOUR)


def chat_body(tool_calls: list[dict[str, object]], finish_reason: str = "tool_calls") -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4.1-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": None, "tool_calls": tool_calls},
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def function(call_id: str, name: str, arguments: str) -> dict[str, object]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def openai(model: str) -> OpenAIProvider:
    return OpenAIProvider(
        profile=model_profile(model), api_key="unused", base_url="http://127.0.0.1:9/v1"
    )


def conversation(*, cache_ttl: CacheTtl | None, calls: tuple[ToolCall, ...]) -> ModelRequest:
    results = tuple(
        ToolResult(call_id=call.id, output=f"out {call.id}", is_error=call.id == "c2")
        for call in calls
    )
    return ModelRequest(
        model="m",
        parts=(PREFIX, PACK),
        max_tokens=100,
        schema=RESULT_SCHEMA,
        tools=(LOOKUP,),
        turns=(
            AssistantTurn(tool_calls=calls[:1]),
            ToolResultsTurn(results=results[:1]),
            AssistantTurn(text="Checking more.", tool_calls=calls[1:]),
            ToolResultsTurn(results=results[1:], cache_ttl=cache_ttl),
        ),
    )


CALLS = (
    ToolCall(id="c1", name="lookup_term", arguments={"term": "utilize"}),
    ToolCall(id="c2", name="lookup_term", arguments={"term": "leverage"}),
    ToolCall(id="c3", name="lookup_term", arguments={}, raw_arguments='{"term": "trunc'),
)


def test_chat_tool_calls_come_back_apart_from_the_result_tool_with_broken_arguments_kept() -> None:
    response = openai("gpt-4.1-mini").parse_response_body(
        chat_body(
            [
                function("c1", "lookup_term", '{"term": "utilize"}'),
                function("c3", "lookup_term", '{"term": "trunc'),
                function("c4", "record_results", '{"results": []}'),
            ]
        )
    )
    assert response.stop_reason is StopReason.TOOL_CALL
    assert response.text == '{"results": []}'
    assert response.tool_calls == (CALLS[0], CALLS[2])


def test_responses_function_calls_come_back_as_tool_calls_with_a_tool_call_stop() -> None:
    body = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": "gpt-6-sol",
        "output": [
            {
                "id": "fc_1",
                "type": "function_call",
                "status": "completed",
                "call_id": "c1",
                "name": "lookup_term",
                "arguments": '{"term": "utilize"}',
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    response = openai("gpt-6-sol").parse_response_body(body)
    assert response.stop_reason is StopReason.TOOL_CALL
    assert response.tool_calls == (CALLS[0],)
    assert response.text == ""


def test_anthropic_tool_use_blocks_come_back_as_tool_calls_and_the_result_tool_as_the_text() -> (
    None
):
    message = anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "c1",
                    "name": "lookup_term",
                    "input": {"term": "utilize"},
                },
            ],
            "stop_reason": "tool_use",
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    )
    response = message_response(message)
    assert (response.text, response.stop_reason) == ("Let me check.", StopReason.TOOL_CALL)
    assert response.tool_calls == (CALLS[0],)


def test_anthropic_turns_flag_tool_errors_and_mark_only_the_newest_results() -> None:
    provider = AnthropicProvider(
        profile=model_profile("claude-sonnet-4-6"), api_key="unused", base_url="http://127.0.0.1:9"
    )
    body = provider.request_body(conversation(cache_ttl=CacheTtl.FIVE_MINUTES, calls=CALLS))
    first_results, second_results = body["messages"][2], body["messages"][4]
    assert first_results["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "out c1", "is_error": False}
    ]
    assert [block["is_error"] for block in second_results["content"]] == [True, False]
    assert "cache_control" not in second_results["content"][0]
    assert second_results["content"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
    assert body["messages"][3]["content"][0] == {"type": "text", "text": "Checking more."}


@pytest.mark.parametrize("model", ["gpt-4.1-mini", "gpt-6-sol"])
def test_openai_turns_send_broken_arguments_as_written_and_errors_as_text(model: str) -> None:
    body = openai(model).request_body(conversation(cache_ttl=None, calls=CALLS))
    wire = body.get("messages") or body["input"]
    text = str(wire)
    assert '\'{"term": "trunc\'' in text
    assert "is_error" not in text
    assert "out c2" in text


def test_the_moving_breakpoint_is_an_explicit_marker_where_openai_takes_them() -> None:
    request = conversation(cache_ttl=CacheTtl.FIVE_MINUTES, calls=CALLS)
    outputs = [
        item["output"]
        for item in openai("gpt-6-sol").request_body(request)["input"]
        if item.get("type") == "function_call_output"
    ]
    assert outputs[:2] == ["out c1", "out c2"]
    assert outputs[2] == [
        {"type": "input_text", "text": "out c3", "prompt_cache_breakpoint": {"mode": "explicit"}}
    ]
    # Before GPT-5.6 caching is automatic: no markers.
    chat = openai("gpt-4.1-mini").request_body(request)["messages"]
    assert [message["content"] for message in chat if message["role"] == "tool"][-1] == "out c3"


def test_a_turns_breakpoint_counts_toward_the_four() -> None:
    marked = RequestPart(kind=PartKind.PREFIX, text="p", cache_ttl=CacheTtl.FIVE_MINUTES)
    request = conversation(cache_ttl=CacheTtl.FIVE_MINUTES, calls=CALLS)
    with pytest.raises(ValueError, match="at most 4"):
        replace(request, parts=(*[marked] * MAX_BREAKPOINTS, PACK))
