"""The Responses API (``/v1/responses``) through the official ``openai`` SDK over real HTTP:
the response object, usage and prompt caching, function tools, error bodies and faults, and
Batch input lines for the endpoint.

Where the sandbox goes beyond PROVIDERS.md, ``sandbox/openai/responses.py`` names the source;
refusing ``stream: true`` is the sandbox's own limit, not the API's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import openai
import pytest
from openai.types.responses import Response

from blockpass.packformat import RESULT_SCHEMA, RESULT_TOOL_NAME
from blockpass.providers.tooldefs import result_tool, to_responses
from blockpass.sandbox import SandboxConfig
from blockpass.sandbox.errors import ApiError
from blockpass.sandbox.faults import NO_FAULTS
from blockpass.sandbox.openai.batchfile import (
    ENDPOINT,
    RESPONSES_ENDPOINT,
    item_request,
    read_input,
)
from blockpass.sandbox.openai.cache import OpenAIPromptCache
from blockpass.sandbox.openai.engine import complete, input_plan
from blockpass.sandbox.responder import Responder
from tests.sandbox.openai_support import Connect, openai_clients
from tests.sandbox.support import RunningSandbox, StartSandbox, pack, scripted

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini"
SOL = "gpt-6-sol"
FORMAT: dict[str, Any] = {
    "format": {
        "type": "json_schema",
        "name": RESULT_TOOL_NAME,
        "schema": RESULT_SCHEMA,
        "strict": True,
    }
}


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    async with openai_clients() as opened:
        yield opened


def marked_system(text: str) -> dict[str, Any]:
    return {
        "role": "system",
        "content": [
            {"type": "input_text", "text": text, "prompt_cache_breakpoint": {"mode": "explicit"}}
        ],
    }


async def create(
    running: RunningSandbox, connect: Connect, **body: Any
) -> tuple[Response, dict[str, Any]]:
    """The SDK's parsed response and the raw JSON, which must validate as the SDK's type."""
    raw = await connect(running).responses.with_raw_response.create(**body)
    payload = raw.http_response.json()
    Response.model_validate(payload)
    return raw.parse(), payload


def usage_numbers(response: Response) -> tuple[int, int, int]:
    """Input, cached and written tokens."""
    assert response.usage is not None
    details = response.usage.input_tokens_details
    return response.usage.input_tokens, details.cached_tokens, details.cache_write_tokens


async def test_instructions_are_cached_in_128_token_steps_and_no_write_is_reported(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    running = start_sandbox()
    responses = [
        (await create(running, connect, model=MODEL, instructions=guide, input=pack(text)))[0]
        for text in ("One.", "Two, longer.")
    ]
    (first_input, first_cached, first_written), (_, cached, written) = map(usage_numbers, responses)
    assert first_cached == first_written == written == 0
    assert 2048 <= cached <= first_input
    assert (cached - 1024) % 128 == 0
    second = responses[1]
    assert second.usage is not None
    assert second.usage.total_tokens == second.usage.input_tokens + second.usage.output_tokens
    assert running.sandbox.stats.usage["cached_tokens"] == cached


async def test_a_prompt_under_1024_tokens_is_never_cached(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox()
    for _ in range(3):
        response, _ = await create(
            running,
            connect,
            model=MODEL,
            instructions="Apply the style guide. " * 40,
            input=pack("Same text."),
        )
        input_tokens, cached, _ = usage_numbers(response)
        assert input_tokens < 1024
        assert cached == 0


async def test_gpt_6_sol_writes_at_an_explicit_breakpoint_and_reads_it_for_the_next_pack(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    running = start_sandbox()
    responses = []
    for text in ("One.", "Two, longer than one."):
        response, payload = await create(
            running,
            connect,
            model=SOL,
            input=[marked_system(guide), {"role": "user", "content": pack(text)}],
            text=FORMAT,
            prompt_cache_key="task-fingerprint",
            prompt_cache_options={"mode": "explicit", "ttl": "30m"},
        )
        responses.append(response)
        assert payload["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}
    (first_input, _, written), (_, cached, rewritten) = map(usage_numbers, responses)
    assert 2000 < written < first_input  # not rounded to 128; the pack is not written
    assert cached == written
    assert rewritten == 0


async def test_gpt_6_sol_without_a_breakpoint_writes_everything_and_a_new_pack_misses(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    running = start_sandbox()
    for text in ("One.", "Two."):
        response, _ = await create(
            running, connect, model=SOL, instructions=guide, input=pack(text), text=FORMAT
        )
        input_tokens, cached, written = usage_numbers(response)
        assert (cached, written) == (0, input_tokens)


async def test_a_json_schema_answer_is_output_text_that_covers_every_block(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    response, payload = await create(
        start_sandbox(),
        connect,
        model="gpt-5-mini",
        instructions="Apply the guide.",
        input=pack("One.", "Two.", "Three."),
        text=FORMAT,
        max_output_tokens=2000,
    )
    assert response.status == "completed"
    assert response.incomplete_details is None
    answer = json.loads(response.output_text)
    jsonschema.validate(answer, RESULT_SCHEMA)
    assert [result["id"] for result in answer["results"]] == ["b1", "b2", "b3"]
    assert payload["text"]["format"] == FORMAT["format"]
    assert payload["max_output_tokens"] == 2000
    assert payload["reasoning"]["effort"] == "medium"


async def test_gpt_6_sol_takes_strict_function_tools_here_and_answers_with_a_function_call(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    response, _ = await create(
        start_sandbox(),
        connect,
        model=SOL,
        input=[
            {"role": "system", "content": "Apply the guide."},
            {"role": "user", "content": pack("One.", "Two.")},
        ],
        tools=[to_responses(result_tool(RESULT_SCHEMA))],
        tool_choice={"type": "function", "name": RESULT_TOOL_NAME},
        parallel_tool_calls=False,
    )
    (call,) = response.output
    assert call.type == "function_call"
    assert call.name == RESULT_TOOL_NAME
    answer = json.loads(call.arguments)
    jsonschema.validate(answer, RESULT_SCHEMA)
    assert [result["id"] for result in answer["results"]] == ["b1", "b2"]
    assert response.parallel_tool_calls is False


async def test_output_faults_make_an_incomplete_response_or_a_refusal(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(faults=scripted("truncate,refusal"))
    body: dict[str, Any] = {
        "model": MODEL,
        "instructions": "a",
        "input": pack("One.", "Two.", "Three."),
        "text": FORMAT,
    }
    truncated, _ = await create(running, connect, **body)
    assert truncated.status == "incomplete"
    assert truncated.incomplete_details is not None
    assert truncated.incomplete_details.reason == "max_output_tokens"
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.output_text)
    refused, _ = await create(running, connect, **body)
    assert refused.status == "completed"
    (message,) = refused.output
    assert message.type == "message"
    assert [part.type for part in message.content] == ["refusal"]
    assert refused.output_text == ""


async def test_a_scripted_rate_limit_is_a_429_with_retry_after(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(faults=scripted("rate_limited"))
    with pytest.raises(openai.RateLimitError) as caught:
        await connect(running).responses.create(model=MODEL, input="b")
    assert caught.value.response.headers["retry-after"] == "1"


async def test_rate_limit_headers_count_the_whole_prompt(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    running = start_sandbox(SandboxConfig(input_tokens_per_minute=6000))
    raw = await connect(running).responses.with_raw_response.create(
        model=MODEL, instructions=guide, input="one", max_output_tokens=100
    )
    assert raw.headers["x-ratelimit-limit-tokens"] == "6000"
    assert int(raw.headers["x-ratelimit-remaining-tokens"]) < 6000 - 2500


async def test_streaming_is_a_400_in_the_openai_error_shape(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await connect(start_sandbox()).responses.create(model=MODEL, input="b", stream=True)
    assert caught.value.body == {
        "message": "Streaming is not supported by the sandbox's /v1/responses.",
        "type": "invalid_request_error",
        "param": "stream",
        "code": "unsupported_parameter",
    }


async def test_a_wrong_key_and_an_unknown_model_have_the_openai_error_bodies(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox()
    with pytest.raises(openai.AuthenticationError) as denied:
        await connect(running, api_key="sk-wrong-key-1234").responses.create(model=MODEL, input="b")
    assert denied.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError) as missing:
        await connect(running).responses.create(model="gpt-imaginary", input="b")
    assert missing.value.code == "model_not_found"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"model": MODEL, "max_output_tokens": 15}, "max_output_tokens"),
        ({"model": MODEL, "max_output_tokens": 40_000}, "max_output_tokens"),
        ({"model": MODEL, "reasoning": {"effort": "low"}}, "reasoning.effort"),
        ({"model": "gpt-5-mini", "temperature": 0.2}, "temperature"),
        ({"model": MODEL, "prompt_cache_options": {"mode": "explicit"}}, "prompt_cache_options"),
        ({"model": MODEL, "previous_response_id": "resp_1"}, "previous_response_id"),
        ({"model": MODEL, "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": MODEL, "tool_choice": "auto"}, "tool_choice"),
        (
            {
                "model": MODEL,
                "text": {
                    "format": {
                        "type": "json_schema",
                        "name": "x",
                        "schema": {"type": "object", "properties": {}},
                        "strict": True,
                    }
                },
            },
            "text.format.schema",
        ),
        (
            {"model": MODEL, "input": [marked_system("a"), {"role": "user", "content": "b"}]},
            "input[0].content[0].prompt_cache_breakpoint",
        ),
        (
            {"model": SOL, "input": [{"role": "user", "content": [{"type": "text", "text": "b"}]}]},
            "input[0].content[0].type",
        ),
    ],
)
async def test_request_shapes_the_api_does_not_take_are_400s(
    start_sandbox: StartSandbox, connect: Connect, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await connect(start_sandbox()).responses.create(**{"input": "b", **extra})
    assert caught.value.param == param
    assert caught.value.type == "invalid_request_error"


def batch_line(custom_id: str, url: str, body: dict[str, Any]) -> bytes:
    line = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
    return json.dumps(line).encode() + b"\n"


def test_a_batch_file_for_the_responses_endpoint_takes_only_responses_lines() -> None:
    body = {"model": SOL, "input": pack("One."), "text": FORMAT}
    content = batch_line("p-1", RESPONSES_ENDPOINT, body)
    items, model, errors = read_input(content, RESPONSES_ENDPOINT)
    assert ([item.custom_id for item in items], model, errors) == (["p-1"], SOL, [])
    _, _, chat_errors = read_input(content, ENDPOINT)
    _, _, mixed_errors = read_input(content + batch_line("p-2", ENDPOINT, body), RESPONSES_ENDPOINT)
    for found in (chat_errors, mixed_errors):
        assert [error["code"] for error in found] == ["invalid_url"]
    assert mixed_errors[0]["line"] == 2


def test_a_responses_batch_item_runs_through_the_engine_into_a_response_body() -> None:
    body = {"model": SOL, "input": pack("One.", "Two."), "text": FORMAT}
    request, render = item_request(RESPONSES_ENDPOINT, body)
    cache = OpenAIPromptCache()
    plan = input_plan(request, cache, arrival_seq=cache.arrive(), now=0.0)
    completion = complete(
        request,
        plan=plan,
        cache=cache,
        now=0.0,
        responder=Responder(),
        blocks=Responder().blocks_in(request.last_user_text),
        faults=NO_FAULTS,
        limiter=None,
    )
    response = Response.model_validate(render(completion))
    assert [result["id"] for result in json.loads(response.output_text)["results"]] == [
        "b1",
        "b2",
    ]
    assert response.usage is not None
    assert response.usage.input_tokens == completion.body["usage"]["prompt_tokens"]
    _, as_chat = item_request(
        ENDPOINT, {"model": SOL, "messages": [{"role": "user", "content": "b"}]}
    )
    assert as_chat(completion) is completion.body
    with pytest.raises(ApiError, match="Batch API"):
        item_request(RESPONSES_ENDPOINT, {**body, "stream": True})
