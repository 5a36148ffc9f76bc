"""Chat Completions through the official ``openai`` SDK over real HTTP: prompt caching, strict
structured output, error bodies, rate limits and injected faults.

Where the sandbox goes beyond PROVIDERS.md, the source is named in ``sandbox/openai``'s
docstrings; rejecting ``prompt_cache_options`` before GPT-5.6 is an assumption (the SDK
documents the field for GPT-5.6 and later only).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import openai
import pytest

from blockpass.packformat import RESULT_SCHEMA, RESULT_TOOL_NAME
from blockpass.providers.tooldefs import result_tool, to_chat_completions
from blockpass.sandbox import SandboxConfig
from blockpass.tokens import count_tokens
from tests.sandbox.openai_support import (
    RESULT_FORMAT,
    Connect,
    cached,
    chat,
    openai_clients,
    prompt_details,
    usage_of,
)
from tests.sandbox.support import StartSandbox, pack, scripted

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini"
RESULT_FUNCTION = to_chat_completions(result_tool(RESULT_SCHEMA))
A = {"a": {"type": "string"}}


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    async with openai_clients() as opened:
        yield opened


def breakpoint_system(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "prompt_cache_breakpoint": {"mode": "explicit"}}]


async def test_the_first_call_caches_nothing_and_the_second_reads_the_prefix_in_128_token_steps(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    client = connect(start_sandbox())
    first = await client.chat.completions.create(
        model=MODEL, messages=chat(guide, pack("One.")), response_format=RESULT_FORMAT
    )
    second = await client.chat.completions.create(
        model=MODEL, messages=chat(guide, pack("Two, longer.")), response_format=RESULT_FORMAT
    )
    assert cached(first) == 0
    assert cached(second) >= 2048  # most of the ~2,600-token guide
    assert (cached(second) - 1024) % 128 == 0
    assert cached(second) <= usage_of(first).prompt_tokens
    assert prompt_details(second).cache_write_tokens is None  # none reported before GPT-5.6
    usage = usage_of(second)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_a_prompt_under_1024_tokens_is_never_cached(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox())
    system = "Apply the style guide. " * 40
    for _ in range(3):
        completion = await client.chat.completions.create(
            model=MODEL, messages=chat(system, pack("Same text.")), response_format=RESULT_FORMAT
        )
        assert usage_of(completion).prompt_tokens < 1024
        assert cached(completion) == 0


async def test_concurrent_first_calls_all_miss(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    # With latency every request arrives before the first response begins.
    client = connect(start_sandbox(SandboxConfig(latency=0.5)))
    reads: list[int] = []

    async def call(number: int) -> None:
        completion = await client.chat.completions.create(
            model=MODEL, messages=chat(guide, pack(f"Call {number}."))
        )
        reads.append(cached(completion))

    async with anyio.create_task_group() as group:
        for number in range(6):
            group.start_soon(call, number)
    assert reads == [0] * 6


async def test_gpt_5_6_writes_at_its_implicit_breakpoint_so_a_new_pack_misses(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    client = connect(start_sandbox())
    for text in ("One.", "Two."):
        completion = await client.chat.completions.create(
            model="gpt-5.6-luna", messages=chat(guide, pack(text)), response_format=RESULT_FORMAT
        )
        assert cached(completion) == 0
        assert prompt_details(completion).cache_write_tokens == usage_of(completion).prompt_tokens


async def test_gpt_5_6_reads_an_explicit_breakpoint_at_the_end_of_the_stable_prefix(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    client = connect(start_sandbox())
    completions = []
    for text in ("One.", "Two, longer than one."):
        completion = await client.chat.completions.create(
            model="gpt-6-luna",
            messages=[
                {"role": "system", "content": breakpoint_system(guide)},
                {"role": "user", "content": pack(text)},
            ],
            response_format=RESULT_FORMAT,
            prompt_cache_key="task-fingerprint",
            prompt_cache_options={"mode": "explicit", "ttl": "30m"},
        )
        completions.append(completion)
    first, second = completions
    written = prompt_details(first).cache_write_tokens
    # The format and the guide are written, not rounded to 128; the pack after them is not.
    assert written is not None
    assert count_tokens(guide) < written < usage_of(first).prompt_tokens
    assert cached(first) == 0
    assert cached(second) == written
    assert prompt_details(second).cache_write_tokens == 0


async def test_an_entry_expires_after_its_ttl_unless_read(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    running = start_sandbox()
    client = connect(running)

    async def read() -> int:
        return cached(
            await client.chat.completions.create(model=MODEL, messages=chat(guide, "Hi."))
        )

    await read()
    running.clock.advance(240)
    assert await read() > 0  # read within 5 minutes: refreshed
    running.clock.advance(299)
    assert await read() > 0
    running.clock.advance(301)
    assert await read() == 0


async def test_the_json_schema_answer_is_valid_and_covers_every_block(
    start_sandbox: StartSandbox, connect: Connect, google_rules: Path
) -> None:
    client = connect(start_sandbox(SandboxConfig(rules=google_rules)))
    completion = await client.chat.completions.create(
        model="gpt-5-mini",
        messages=chat("Apply the guide.", pack("Click OK to abort.", "All good here.", "Fine.")),
        response_format=RESULT_FORMAT,
        max_completion_tokens=2000,
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.content is not None
    answer = json.loads(choice.message.content)
    jsonschema.validate(answer, RESULT_SCHEMA)
    assert [result["id"] for result in answer["results"]] == ["b1", "b2", "b3"]
    assert answer["results"][0]["verdict"] == "edit"


async def test_a_strict_function_forced_by_name_answers_with_a_tool_call(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox())
    forced = await client.chat.completions.create(
        model=MODEL,
        messages=chat("Apply the guide.", pack("One.", "Two.")),
        tools=[RESULT_FUNCTION],  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": RESULT_TOOL_NAME}},
        parallel_tool_calls=False,
    )
    choice = forced.choices[0]
    assert choice.finish_reason == "stop"  # the API's own quirk for a function forced by name
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == RESULT_TOOL_NAME
    jsonschema.validate(json.loads(call.function.arguments), RESULT_SCHEMA)
    required = await client.chat.completions.create(
        model=MODEL,
        messages=chat("Apply the guide.", pack("One.")),
        tools=[RESULT_FUNCTION],  # type: ignore[list-item]
        tool_choice="required",
    )
    assert required.choices[0].finish_reason == "tool_calls"


async def test_function_tools_on_newer_models_need_reasoning_effort_none_or_the_responses_api(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox())
    body: dict[str, Any] = {"messages": chat("Guide.", pack("One.")), "tools": [RESULT_FUNCTION]}
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model="gpt-6-luna", **body)
    assert caught.value.param == "reasoning_effort"
    assert "set reasoning_effort to 'none'" in caught.value.message
    allowed = await client.chat.completions.create(
        model="gpt-6-luna", reasoning_effort="none", **body
    )
    assert allowed.choices[0].message.tool_calls
    with pytest.raises(openai.BadRequestError, match="use /v1/responses"):
        await client.chat.completions.create(model="gpt-6-sol", reasoning_effort="none", **body)


async def test_a_wrong_key_is_a_401_with_the_openai_error_body(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox(), api_key="sk-wrong-key-1234")
    with pytest.raises(openai.AuthenticationError) as caught:
        await client.chat.completions.create(model=MODEL, messages=chat("a", "b"))
    assert caught.value.body == {
        "message": "Incorrect API key provided: sk-*****1234.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    assert caught.value.request_id is not None


async def test_an_unknown_model_is_a_404(start_sandbox: StartSandbox, connect: Connect) -> None:
    client = connect(start_sandbox())
    with pytest.raises(openai.NotFoundError) as caught:
        await client.chat.completions.create(model="gpt-imaginary", messages=chat("a", "b"))
    assert caught.value.code == "model_not_found"
    assert caught.value.type == "invalid_request_error"


@pytest.mark.parametrize(
    ("schema", "complaint"),
    [
        ({"type": "object", "properties": A, "required": ["a"]}, "'additionalProperties' is"),
        ({"type": "object", "properties": A, "required": [], "additionalProperties": False}, "'a'"),
        ({"anyOf": [{"type": "object"}]}, "must be a JSON Schema of 'type: \"object\"'"),
    ],
)
async def test_a_strict_schema_that_is_not_closed_is_a_400(
    start_sandbox: StartSandbox, connect: Connect, schema: dict[str, Any], complaint: str
) -> None:
    client = connect(start_sandbox())
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(
            model=MODEL,
            messages=chat("a", "b"),
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "x", "schema": schema, "strict": True},
            },
        )
    assert complaint in caught.value.message
    assert caught.value.param == "response_format"


async def test_request_shapes_a_model_does_not_take_are_400s(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox())
    cases: list[tuple[dict[str, Any], str]] = [
        ({"model": "gpt-5-mini", "max_tokens": 100}, "max_tokens"),
        ({"model": "gpt-5-mini", "temperature": 0.2}, "temperature"),
        ({"model": MODEL, "reasoning_effort": "low"}, "reasoning_effort"),
        ({"model": MODEL, "prompt_cache_options": {"mode": "explicit"}}, "prompt_cache_options"),
        ({"model": MODEL, "max_completion_tokens": 40_000}, "max_completion_tokens"),
    ]
    for extra, param in cases:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(messages=chat("a", "b"), **extra)
        assert caught.value.param == param, extra


async def test_a_429_carries_retry_after_and_the_sdk_retries_it(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(faults=scripted("rate_limited,ok"))
    client = connect(running, max_retries=2)
    began = time.monotonic()
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=chat("a", "b")
    )
    assert raw.retries_taken == 1
    assert time.monotonic() - began >= 1.0  # the 429 said Retry-After: 1
    assert running.sandbox.stats.requests["status 429"] == 1


async def test_cached_tokens_count_toward_tokens_per_minute(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    running = start_sandbox(SandboxConfig(input_tokens_per_minute=6000))
    client = connect(running)
    raw = await client.chat.completions.with_raw_response.create(
        model=MODEL, messages=chat(guide, "one"), max_completion_tokens=100
    )
    assert raw.headers["x-ratelimit-limit-tokens"] == "6000"
    remaining = int(raw.headers["x-ratelimit-remaining-tokens"])
    assert remaining < 6000 - 2500
    again = await client.chat.completions.create(
        model=MODEL, messages=chat(guide, "two"), max_completion_tokens=100
    )
    assert cached(again) > 2000
    # Two cached calls used the bucket as much as two uncached ones: a third does not fit.
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(
            model=MODEL, messages=chat(guide, "three"), max_completion_tokens=100
        )
    headers = caught.value.response.headers
    assert int(headers["retry-after"]) >= 1
    assert headers["x-ratelimit-reset-tokens"].endswith("s")
    assert caught.value.code == "rate_limit_exceeded"
    assert "tokens per min (TPM)" in caught.value.message
    running.clock.advance(60)
    await client.chat.completions.create(
        model=MODEL, messages=chat(guide, "four"), max_completion_tokens=100
    )


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("overloaded", 503, "server_is_overloaded"), ("server_error", 500, None)],
)
async def test_injected_server_faults_have_the_documented_status(
    start_sandbox: StartSandbox, connect: Connect, fault: str, status: int, code: str | None
) -> None:
    running = start_sandbox(faults=scripted(f"{fault},{fault},ok"))
    with pytest.raises(openai.InternalServerError) as caught:
        await connect(running).chat.completions.create(model=MODEL, messages=chat("a", "b"))
    assert caught.value.status_code == status
    assert caught.value.code == code
    raw = await connect(running, max_retries=1).chat.completions.with_raw_response.create(
        model=MODEL, messages=chat("a", "b")
    )
    assert raw.retries_taken == 1


async def test_a_dropped_connection_is_a_connection_error(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(faults=scripted("drop_connection"))
    with pytest.raises(openai.APIConnectionError):
        await connect(running).chat.completions.create(model=MODEL, messages=chat("a", "b"))


async def test_output_faults_truncate_or_refuse(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(faults=scripted("truncate,refusal"))
    client = connect(running)
    body: dict[str, Any] = {"model": MODEL, "messages": chat("a", pack("One.", "Two.", "Three."))}
    truncated = await client.chat.completions.create(response_format=RESULT_FORMAT, **body)
    assert truncated.choices[0].finish_reason == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.choices[0].message.content or "")
    refused = await client.chat.completions.create(response_format=RESULT_FORMAT, **body)
    assert refused.choices[0].message.refusal
    assert refused.choices[0].message.content is None


async def test_a_stream_carries_the_same_answer_and_ends_with_a_usage_chunk(
    start_sandbox: StartSandbox, connect: Connect, guide: str
) -> None:
    client = connect(start_sandbox())
    body: dict[str, Any] = {
        "model": MODEL,
        "messages": chat(guide, pack("One.", "Two.")),
        "response_format": RESULT_FORMAT,
    }
    plain = await client.chat.completions.create(**body)
    stream = await client.chat.completions.create(
        stream=True, stream_options={"include_usage": True}, **body
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == plain.choices[0].message.content
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
    assert finishes[-1] == "stop"
    last = chunks[-1]
    assert last.choices == []
    assert usage_of(last).prompt_tokens == usage_of(plain).prompt_tokens
    assert cached(last) > 2000  # the plain call wrote it
    assert all(chunk.usage is None for chunk in chunks[:-1])
