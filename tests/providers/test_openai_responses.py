"""The OpenAI adapter on the Responses API: the body it sends for a model whose profile says
``api = "responses"``, how it reads a ``response`` object, and a run through the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from openai import AsyncOpenAI

from blockpass.errors import ProviderRejected, RateLimited, TransientProviderError
from blockpass.packformat import RESULT_SCHEMA, RESULT_TOOL_NAME
from blockpass.providers.base import (
    ModelProfile,
    ModelResponse,
    OutputMechanism,
    StopReason,
    WireApi,
    model_profile,
)
from blockpass.providers.openai import OpenAIProvider
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from blockpass.tooldefs import result_tool, to_responses
from blockpass.usage import Usage
from tests.providers.openai_support import MakeProvider, openai_providers, request_for
from tests.sandbox.support import RunningSandbox, StartSandbox, pack, scripted

pytestmark = pytest.mark.anyio
SOL = "gpt-6-sol"


@pytest.fixture
async def provider_for() -> AsyncIterator[MakeProvider]:
    async with openai_providers() as make:
        yield make


def offline(profile: ModelProfile) -> OpenAIProvider:
    """An adapter that only builds and reads bodies: nothing listens at its address."""
    return OpenAIProvider(profile=profile, api_key="unused", base_url="http://127.0.0.1:9/v1")


def body_for(profile: ModelProfile, *texts: str) -> dict[str, Any]:
    return offline(profile).request_body(request_for(profile.id, "The guide.", *texts))


def prefix(body: dict[str, Any]) -> str:
    """Everything the model reads before the pack, serialised as it goes on the wire."""
    before_input = {key: value for key, value in body.items() if key != "input"}
    before_input.pop("prompt_cache_key")
    before_input.pop("prompt_cache_options", None)
    return json.dumps([before_input, body["input"][:-1]])


def test_gpt_6_sol_is_called_through_the_responses_api_and_other_models_through_chat() -> None:
    assert model_profile(SOL).api is WireApi.RESPONSES
    assert offline(model_profile(SOL)).endpoint == "/v1/responses"
    for model in ("gpt-4.1-mini", "gpt-5-mini", "gpt-5.6-luna", "gpt-6-luna"):
        assert model_profile(model).api is WireApi.CHAT
        assert offline(model_profile(model)).endpoint == "/v1/chat/completions"


def test_a_json_schema_body_puts_the_format_and_the_marked_system_text_before_the_pack() -> None:
    profile = model_profile(SOL)
    body = body_for(profile, "a")
    assert body == {
        "model": SOL,
        "max_output_tokens": 1000,
        "text": {
            "format": {
                "type": "json_schema",
                "name": RESULT_TOOL_NAME,
                "schema": RESULT_SCHEMA,
                "strict": True,
            }
        },
        "input": [
            {
                "role": "system",
                "content": [
                    {
                        "type": "input_text",
                        "text": "The guide.",
                        "prompt_cache_breakpoint": {"mode": "explicit"},
                    }
                ],
            },
            {"role": "user", "content": body["input"][1]["content"]},
        ],
        "prompt_cache_key": "task-fingerprint",
        "prompt_cache_options": {"mode": "explicit", "ttl": "30m"},
    }
    assert body["input"][1]["content"] == pack("a")
    assert prefix(body) == prefix(body_for(profile, "b", "c"))


@pytest.mark.parametrize(
    ("output", "choice"),
    [
        (OutputMechanism.STRICT_TOOL_FORCED, {"type": "function", "name": RESULT_TOOL_NAME}),
        (OutputMechanism.STRICT_TOOL_AUTO, "auto"),
    ],
)
def test_a_strict_tool_body_sends_the_flat_tool_one_call_at_a_time(
    output: OutputMechanism, choice: object
) -> None:
    profile = replace(model_profile(SOL), output=output)
    body = body_for(profile, "a")
    assert list(body) == [
        "model",
        "max_output_tokens",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "input",
        "prompt_cache_key",
        "prompt_cache_options",
    ]
    assert body["tools"] == [to_responses(result_tool(RESULT_SCHEMA))]
    assert body["tool_choice"] == choice
    assert body["parallel_tool_calls"] is False
    assert prefix(body) == prefix(body_for(profile, "b", "c"))


def test_a_model_before_gpt_5_6_on_responses_gets_plain_system_text_and_no_cache_options() -> None:
    body = body_for(replace(model_profile("gpt-5-mini"), api=WireApi.RESPONSES), "a")
    assert body["input"][0] == {"role": "system", "content": "The guide."}
    assert "prompt_cache_options" not in body


def test_max_output_tokens_is_never_below_the_responses_minimum_of_16() -> None:
    request = replace(request_for(SOL, "G.", "a"), max_tokens=5)
    assert offline(model_profile(SOL)).request_body(request)["max_output_tokens"] == 16


def response_json(
    output: list[dict[str, Any]],
    *,
    status: str = "completed",
    reason: str | None = None,
    usage: tuple[int, int, int, int] = (3000, 2048, 0, 200),
) -> dict[str, Any]:
    """A ``response`` object; ``usage`` is (input, cached, written, output) tokens."""
    input_tokens, cached, written, output_tokens = usage
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": 0,
        "status": status,
        "incomplete_details": {"reason": reason} if reason else None,
        "model": SOL,
        "output": output,
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    }


def message(*content: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": list(content),
    }


def output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": []}


FUNCTION_CALL = {
    "id": "fc_1",
    "type": "function_call",
    "status": "completed",
    "call_id": "call_1",
    "name": RESULT_TOOL_NAME,
    "arguments": '{"results": []}',
}
REASONING = {"id": "rs_1", "type": "reasoning", "summary": []}


@pytest.mark.parametrize(
    ("body", "text", "stop_reason"),
    [
        (response_json([REASONING, message(output_text('{"results"'), output_text(": []}"))]),
         '{"results": []}', StopReason.END),
        (response_json([REASONING, FUNCTION_CALL]), '{"results": []}', StopReason.TOOL_CALL),
        (response_json([message({"type": "refusal", "refusal": "No."})]), "",
         StopReason.REFUSAL),
        (response_json([message(output_text('{"res'))], status="incomplete",
                       reason="max_output_tokens"), '{"res', StopReason.OUTPUT_LIMIT),
        (response_json([FUNCTION_CALL], status="incomplete", reason="max_output_tokens"),
         '{"results": []}', StopReason.OUTPUT_LIMIT),
        (response_json([], status="incomplete", reason="content_filter"), "", StopReason.REFUSAL),
    ],
)  # fmt: skip
def test_a_response_object_gives_its_text_or_call_and_a_stop_reason(
    body: dict[str, Any], text: str, stop_reason: StopReason
) -> None:
    response = offline(model_profile(SOL)).parse_response_body(body)
    assert (response.text, response.stop_reason) == (text, stop_reason)
    assert response.rate_limits is None


def test_cached_and_written_input_tokens_are_taken_out_of_the_uncached_input() -> None:
    provider = offline(model_profile(SOL))
    body = response_json([message(output_text("{}"))], usage=(3000, 2048, 0, 200))
    assert provider.parse_response_body(body).usage == Usage(
        uncached_input=952, cache_read=2048, output=200
    )
    written = response_json([message(output_text("{}"))], usage=(2800, 0, 2700, 150))
    assert provider.parse_response_body(written).usage == Usage(
        uncached_input=100, cache_write_5m=2700, output=150
    )


def test_a_body_that_is_not_a_response_or_a_failed_response_is_a_provider_error() -> None:
    provider = offline(model_profile(SOL))
    with pytest.raises(TransientProviderError, match="/v1/responses"):
        provider.parse_response_body({"object": "chat.completion", "choices": []})
    failed = response_json([]) | {
        "status": "failed",
        "error": {"code": "server_error", "message": "The model failed."},
    }
    with pytest.raises(TransientProviderError, match="The model failed"):
        provider.parse_response_body(failed)


async def raw_body(running: RunningSandbox, provider: OpenAIProvider, model: str) -> Any:
    """The body the sandbox answers to the adapter's own request, fetched with the SDK."""
    async with AsyncOpenAI(
        api_key=DEFAULT_API_KEY, base_url=f"{running.server.base_url}/v1", max_retries=0
    ) as client:
        body = provider.request_body(request_for(model, "G.", "Click OK.", "Fine."))
        if provider.endpoint == "/v1/responses":
            raw = await client.responses.with_raw_response.create(**body)
            return raw.http_response.json()
        chat = await client.chat.completions.with_raw_response.create(**body)
        return chat.http_response.json()


@pytest.mark.parametrize("model", [SOL, "gpt-6-luna"])
async def test_parse_response_body_reads_an_answer_as_complete_does(
    start_sandbox: StartSandbox, provider_for: MakeProvider, model: str
) -> None:
    # Two fresh sandboxes answer the same request the same way but for ids.
    limited = SandboxConfig(requests_per_minute=10, input_tokens_per_minute=100_000)
    realtime = provider_for(start_sandbox(limited), model)
    answered = await realtime.complete(request_for(model, "G.", "Click OK.", "Fine."))
    assert answered.rate_limits is not None
    body = await raw_body(start_sandbox(), realtime, model)
    parsed = realtime.parse_response_body(body)
    assert parsed == replace(answered, rate_limits=None)
    assert isinstance(parsed, ModelResponse)
    assert json.loads(parsed.text)["results"][0]["id"] == "b1"


async def test_gpt_6_sol_writes_the_prefix_on_the_first_pack_and_reads_it_on_the_second(
    start_sandbox: StartSandbox, provider_for: MakeProvider, guide: str
) -> None:
    running = start_sandbox()
    provider = provider_for(running, SOL)
    first = await provider.complete(request_for(SOL, guide, "One."))
    second = await provider.complete(request_for(SOL, guide, "Two, a longer one."))
    assert running.sandbox.stats.requests["POST /v1/responses"] == 2
    assert first.usage.cache_read == 0
    assert first.usage.cache_write_5m > 2000
    assert second.usage.cache_read == first.usage.cache_write_5m
    assert second.usage.cache_write == 0
    assert second.usage.uncached_input > first.usage.uncached_input > 0
    assert second.stop_reason == StopReason.END
    assert [result["id"] for result in json.loads(second.text)["results"]] == ["b1"]


async def test_gpt_6_sol_answers_by_strict_tool_through_the_responses_api(
    start_sandbox: StartSandbox, provider_for: MakeProvider
) -> None:
    profile = replace(model_profile(SOL), output=OutputMechanism.STRICT_TOOL_FORCED)
    provider = provider_for(start_sandbox(), profile)
    response = await provider.complete(request_for(SOL, "The guide.", "One.", "Two."))
    assert [result["id"] for result in json.loads(response.text)["results"]] == ["b1", "b2"]
    assert response.stop_reason == StopReason.TOOL_CALL


async def test_truncation_refusal_and_errors_on_the_responses_api_map_as_on_chat(
    start_sandbox: StartSandbox, provider_for: MakeProvider
) -> None:
    provider = provider_for(start_sandbox(faults=scripted("truncate,refusal,rate_limited")), SOL)
    request = request_for(SOL, "G.", "One.", "Two.", "Three.")
    assert (await provider.complete(request)).stop_reason == StopReason.OUTPUT_LIMIT
    refused = await provider.complete(request)
    assert (refused.text, refused.stop_reason) == ("", StopReason.REFUSAL)
    with pytest.raises(RateLimited):
        await provider.complete(request)
    with pytest.raises(ProviderRejected, match="max_output_tokens"):
        await provider.complete(replace(request, max_tokens=10**6))
