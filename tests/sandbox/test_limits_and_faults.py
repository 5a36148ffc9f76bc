"""Rate limits and injected faults, seen through the SDK's own retry behaviour."""

from __future__ import annotations

import time
from collections import deque

import anthropic
import httpx2
import pytest

from blockpass.sandbox import FaultPlan, SandboxConfig
from blockpass.sandbox.faults import FaultSpecError, parse_rates, parse_script
from tests.sandbox.support import StartSandbox, cached_system, scripted, user

pytestmark = pytest.mark.anyio
MODEL = "claude-sonnet-4-5"


async def test_a_429_is_retried_by_the_sdk_after_the_retry_after_it_names(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(faults=scripted("rate_limited,ok"))
    client = running.client(max_retries=2)
    began = time.monotonic()
    raw = await client.messages.with_raw_response.create(
        model=MODEL, max_tokens=10, messages=user("hi")
    )
    waited = time.monotonic() - began
    assert raw.retries_taken == 1
    assert waited >= 1.0  # the 429 said retry-after: 1
    assert running.sandbox.stats.requests["status 429"] == 1


async def test_an_exhausted_request_bucket_answers_429_with_headers(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(SandboxConfig(requests_per_minute=2))
    client = running.client()
    for _ in range(2):
        ok = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=10, messages=user("hi")
        )
    assert ok.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert ok.headers["anthropic-ratelimit-requests-remaining"] == "0"
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    headers = caught.value.response.headers
    assert headers["retry-after"] == "30"  # one request refills in 60 s / 2
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    running.clock.advance(30)
    await client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))


async def test_cache_reads_do_not_count_toward_input_tokens_per_minute(
    start_sandbox: StartSandbox, guide: str
) -> None:
    running = start_sandbox(SandboxConfig(input_tokens_per_minute=4000))
    client = running.client()
    system = cached_system(guide)
    first = await client.messages.create(
        model=MODEL, max_tokens=10, system=system, messages=user("one")
    )
    assert first.usage.cache_creation_input_tokens > 2000
    for _ in range(5):  # 5 × ~2,600 read tokens would far exceed 4,000 if reads counted
        again = await client.messages.create(
            model=MODEL, max_tokens=10, system=system, messages=user("two")
        )
        assert again.usage.cache_read_input_tokens > 2000
    # A prefix that must be written again does count, and the bucket cannot hold it.
    with pytest.raises(anthropic.RateLimitError, match="input-tokens"):
        await client.messages.create(
            model=MODEL,
            max_tokens=10,
            system=cached_system(guide + " Changed."),
            messages=user("three"),
        )


async def test_output_is_reserved_at_max_tokens_and_the_unused_part_returned(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(SandboxConfig(output_tokens_per_minute=1000))
    client = running.client()
    for _ in range(5):  # each reserves 600 and gives back all but a few tokens
        await client.messages.create(model=MODEL, max_tokens=600, messages=user("hi"))
    with pytest.raises(anthropic.RateLimitError):
        await client.messages.create(model=MODEL, max_tokens=1001, messages=user("hi"))


@pytest.mark.parametrize(("fault", "status"), [("overloaded", 529), ("server_error", 500)])
async def test_injected_server_errors_have_the_documented_status_and_are_retried(
    start_sandbox: StartSandbox, fault: str, status: int
) -> None:
    running = start_sandbox(faults=scripted(fault))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await running.client().messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    assert caught.value.status_code == status
    running.sandbox.faults.script.extend(parse_script(f"{fault},ok"))
    raw = await running.client(max_retries=1).messages.with_raw_response.create(
        model=MODEL, max_tokens=10, messages=user("hi")
    )
    assert raw.retries_taken == 1


async def test_a_dropped_connection_is_a_connection_error_that_the_sdk_retries(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(faults=scripted("drop_connection,drop_connection,ok"))
    with pytest.raises(anthropic.APIConnectionError):
        await running.client().messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    raw = await running.client(max_retries=1).messages.with_raw_response.create(
        model=MODEL, max_tokens=10, messages=user("hi")
    )
    assert raw.retries_taken == 1


async def test_a_dropped_stream_breaks_off_mid_message(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(faults=scripted("drop_connection"))
    client = running.client()

    async def read_stream() -> None:
        async with client.messages.stream(
            model=MODEL, max_tokens=10, messages=user("hi")
        ) as stream:
            async for _ in stream:
                pass

    # Inside a stream the SDK lets the transport error through unwrapped.
    with pytest.raises(httpx2.TransportError):
        await read_stream()


@pytest.mark.slow
async def test_a_slow_response_starts_late(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(faults=FaultPlan(script=deque(parse_script("slow")), slow_seconds=3.0))
    client = running.client(timeout=0.5)
    with pytest.raises(anthropic.APITimeoutError):
        await client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))


def test_fault_specs_are_parsed_and_bad_ones_named() -> None:
    assert parse_rates("overloaded=0.05, truncate=0.1") == {"overloaded": 0.05, "truncate": 0.1}
    assert parse_script("ok,truncate+drop_ids") == [
        frozenset(),
        frozenset({"truncate", "drop_ids"}),
    ]
    with pytest.raises(FaultSpecError, match="unknown fault 'explode'"):
        parse_rates("explode=0.1")
    with pytest.raises(FaultSpecError, match="between 0 and 1"):
        parse_rates("overloaded=2")


def test_fault_rates_hold_over_many_draws() -> None:
    plan = FaultPlan(rates={"overloaded": 0.05, "truncate": 0.1, "drop_ids": 0.05}, seed=11)
    draws = [plan.shape(plan.draw(), 20) for _ in range(4000)]
    overloaded = sum(d.request == "overloaded" for d in draws) / len(draws)
    truncated = sum(d.truncate_share is not None for d in draws) / len(draws)
    dropped = sum(len(d.dropped) for d in draws) / (20 * len(draws))
    assert 0.04 < overloaded < 0.06
    assert 0.085 < truncated < 0.115
    assert 0.045 < dropped < 0.055
