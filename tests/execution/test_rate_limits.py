"""The rate-limit scheduler on virtual time, against the sandbox's own token buckets.

The provider side is the sandbox's limiter (``sandbox/ratelimit.py`` for Anthropic,
``sandbox/openai/ratelimit.py`` for OpenAI) read back through the adapters' header parsing,
so the scheduler is measured against the buckets the served sandbox enforces, not against a
copy of its own arithmetic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import httpx2
import pytest

from blockpass.execution.rate_limits import Admission, CallNeeds, RateLimitScheduler
from blockpass.providers.anthropic import rate_limit_state as anthropic_state
from blockpass.providers.base import RateLimitBucket, RateLimitState
from blockpass.providers.openai import rate_limit_state as openai_state
from blockpass.sandbox.errors import ApiError
from blockpass.sandbox.openai.errors import OpenAIApiError
from blockpass.sandbox.openai.ratelimit import OpenAIRateLimiter
from blockpass.sandbox.ratelimit import RateLimiter
from blockpass.usage import Usage
from tests.execution.clocks import VirtualClock

pytestmark = pytest.mark.anyio
START = 1_790_000_000.0
PREFIX = 20_000  # cached after the first call
PACK = 3_000
OUTPUT = 2_000
MAX_TOKENS = 2 * OUTPUT + 256  # the layout's reserve for a pack estimated at OUTPUT


@dataclass
class Provider:
    """Calls that take the sandbox's latency (0.5 s, then 0.01 s per output token)."""

    clock: VirtualClock
    scheduler: RateLimitScheduler
    vendor: str
    limiter: RateLimiter | OpenAIRateLimiter
    refused: int = 0
    output: int = 0
    counted_input: int = 0
    first_sent: float | None = None
    last_answer: float = 0.0
    in_flight_peak: int = 0
    sent_at: list[float] = field(default_factory=list)
    # Each call's uncached part, output and max_tokens.
    pack: int = PACK
    answer: int = OUTPUT
    max_tokens: int = MAX_TOKENS

    async def call(self, cached: int) -> None:
        needs = CallNeeds(
            prompt_tokens=PREFIX + self.pack, cached_tokens=cached, output_reserve=self.max_tokens
        )
        admission = await self.scheduler.admit(needs)
        self.in_flight_peak = max(self.in_flight_peak, self.scheduler.in_flight)
        now = self.clock.now()
        self.first_sent = now if self.first_sent is None else self.first_sent
        self.sent_at.append(now)
        written = PREFIX if cached == 0 else 0
        try:
            admitted, state = self._admit(written)
        except (ApiError, OpenAIApiError) as refusal:
            # As the executor does: everything waits for the retry-after.
            self.refused += 1
            self.scheduler.throttled(float(refusal.headers["retry-after"]))
            self.scheduler.release(admission, usage=None, state=None)
            return
        await self.clock.sleep(0.5)
        self.scheduler.started(admission, state)
        await self.clock.sleep(0.01 * self.answer)
        self.limiter.settle(admitted, output_tokens=self.answer)  # type: ignore[arg-type]
        usage = Usage(
            uncached_input=self.pack,
            cache_write_5m=written,
            cache_read=PREFIX - written,
            output=self.answer,
        )
        self.output += self.answer
        self.counted_input += (
            self.pack + written + (0 if self.vendor == "anthropic" else PREFIX - written)
        )
        self.last_answer = self.clock.now()
        self.scheduler.release(admission, usage=usage, state=state)

    def _admit(self, written: int) -> tuple[object, RateLimitState | None]:
        if isinstance(self.limiter, RateLimiter):
            admitted = self.limiter.admit(
                input_tokens=self.pack + written, max_output=self.max_tokens
            )
            return admitted, anthropic_state(httpx2.Headers(admitted.headers))
        openai_admitted = self.limiter.admit(
            model="gpt-5-mini", prompt_tokens=PREFIX + self.pack, reserve_output=self.max_tokens
        )
        return openai_admitted, openai_state(httpx2.Headers(openai_admitted.headers))

    @property
    def minutes(self) -> float:
        assert self.first_sent is not None
        return (self.last_answer - self.first_sent) / 60.0


async def on_virtual_time(clock: VirtualClock, work: Callable[[], Awaitable[None]]) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(clock.drive)
        await work()
        group.cancel_scope.cancel()


async def run_calls(provider: Provider, calls: int) -> None:
    """The first call alone until its response begins, then the rest as the scheduler lets
    them go (it lets them through in the order they ask)."""

    async def work() -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(provider.call, 0)
            while not provider.scheduler.limits:
                await provider.clock.sleep(0.05)
            for _ in range(calls - 1):
                group.start_soon(provider.call, PREFIX)

    await on_virtual_time(provider.clock, work)


def anthropic_provider(
    clock: VirtualClock, *, output_per_minute: int = 90_000, input_per_minute: int = 450_000
) -> Provider:
    limiter = RateLimiter(
        clock, requests_per_minute=1000, input_tokens_per_minute=input_per_minute,
        output_tokens_per_minute=output_per_minute,
    )  # fmt: skip
    scheduler = RateLimitScheduler(clock, concurrency=8, max_concurrency=256)
    return Provider(clock=clock, scheduler=scheduler, vendor="anthropic", limiter=limiter)


async def test_paced_calls_keep_the_output_limit_near_full_and_are_never_refused() -> None:
    clock = VirtualClock(START)
    provider = anthropic_provider(clock)
    await run_calls(provider, 200)
    assert provider.refused == 0
    assert provider.output / (90_000 * provider.minutes) >= 0.9
    # A bucket starts full, so over a run it can give one minute's worth more than the limit
    # times the run's minutes; what is left unused is the last calls' 20 s tail.
    allowance = 90_000 * (1 + provider.minutes)
    assert provider.output / allowance >= 0.85
    # The limits, not the configured 8, set how many calls were in flight.
    assert provider.in_flight_peak > 8


async def test_a_run_bound_by_anthropics_input_limit_keeps_it_over_90_percent_used() -> None:
    # The whole rust-book's shape on claude-sonnet-4-5 at a fifth of the limits:
    # 8,000 uncached tokens a call beside the cached guide, answers well under max_tokens.
    clock = VirtualClock(START)
    provider = anthropic_provider(clock, input_per_minute=90_000, output_per_minute=18_000)
    provider.pack, provider.answer, provider.max_tokens = 8_000, 1_200, 3_300
    await run_calls(provider, 60)
    assert provider.refused == 0
    allowance = 90_000 * (1 + provider.minutes)
    assert provider.counted_input / allowance >= 0.9
    assert provider.counted_input == 60 * 8_000 + PREFIX, "cache reads are not asked for"


async def test_an_anthropic_call_needs_no_input_room_for_its_cached_prefix() -> None:
    clock = VirtualClock(START)
    provider = anthropic_provider(clock, output_per_minute=10_000_000)
    await run_calls(provider, 40)
    assert provider.refused == 0
    # 40 calls of 23,000 prompt tokens would be 920,000 input tokens, twice the limit of
    # 450,000 a minute; cache reads do not count, and all went out once the first had begun.
    assert provider.counted_input == 40 * PACK + PREFIX
    assert max(provider.sent_at) - min(provider.sent_at) < 1


async def test_an_openai_run_counts_cached_prompts_and_output_in_one_bucket_and_is_never_refused() -> (
    None
):
    clock = VirtualClock(START)
    limiter = OpenAIRateLimiter(clock, requests_per_minute=1000, tokens_per_minute=450_000)
    scheduler = RateLimitScheduler(clock, concurrency=8, max_concurrency=256)
    provider = Provider(clock=clock, scheduler=scheduler, vendor="openai", limiter=limiter)
    await run_calls(provider, 120)
    assert provider.refused == 0
    assert RateLimitBucket.TOKENS in scheduler.limits
    used = provider.counted_input + provider.output
    assert used / (450_000 * (1 + provider.minutes)) >= 0.9


def needs(output_reserve: int = MAX_TOKENS) -> CallNeeds:
    return CallNeeds(prompt_tokens=PACK, cached_tokens=0, output_reserve=output_reserve)


def stated(remaining_output: int, *, limit: int = 60_000) -> RateLimitState:
    return RateLimitState(
        remaining={RateLimitBucket.REQUESTS: 999, RateLimitBucket.OUTPUT_TOKENS: remaining_output},
        reset_at={},
        limits={RateLimitBucket.REQUESTS: 1000, RateLimitBucket.OUTPUT_TOKENS: limit},
    )


async def admitted_at(
    clock: VirtualClock, scheduler: RateLimitScheduler, wanted: CallNeeds
) -> float:
    async def work() -> None:
        await scheduler.admit(wanted)

    await on_virtual_time(clock, work)
    return clock.now()


async def test_a_call_goes_as_soon_as_the_output_bucket_holds_its_max_tokens() -> None:
    clock = VirtualClock(START)
    scheduler = RateLimitScheduler(clock, concurrency=8, max_concurrency=256)
    first = await scheduler.admit(needs())
    # The provider took the first call's 4,256 out of 60,000 a minute (1,000 a second).
    scheduler.started(first, stated(60_000 - MAX_TOKENS))
    for _ in range(13):  # 13 x 4,256 = 55,328 of the 55,744 left
        assert await admitted_at(clock, scheduler, needs()) == START
    # 416 left: the next call waits for 3,840 more tokens, 3.84 s, and not a moment longer.
    assert await admitted_at(clock, scheduler, needs()) == pytest.approx(START + 3.84)


async def test_output_a_call_did_not_use_comes_back_when_it_ends() -> None:
    clock = VirtualClock(START)
    scheduler = RateLimitScheduler(clock, concurrency=8, max_concurrency=256)
    first = await scheduler.admit(needs(output_reserve=50_000))
    scheduler.started(first, stated(10_000))
    scheduler.release(first, usage=Usage(uncached_input=PACK, output=1_000), state=None)
    # 10,000 left plus the 49,000 not generated: a 50,000 reserve goes at once.
    assert await admitted_at(clock, scheduler, needs(output_reserve=50_000)) == START


async def test_a_call_larger_than_the_whole_bucket_goes_when_the_bucket_is_full() -> None:
    clock = VirtualClock(START)
    scheduler = RateLimitScheduler(clock, concurrency=8, max_concurrency=256)
    first = await scheduler.admit(needs())
    scheduler.started(first, stated(0))
    # 60,000 a minute: full again after 60 s; the provider decides about the rest.
    assert await admitted_at(clock, scheduler, needs(output_reserve=100_000)) == pytest.approx(
        START + 60
    )


async def admits_now(scheduler: RateLimitScheduler, wanted: CallNeeds) -> bool:
    """Whether a call is let through before anything else happens (no time passes)."""
    admitted = False

    async def ask() -> None:
        nonlocal admitted
        await scheduler.admit(wanted)
        admitted = True

    async with anyio.create_task_group() as group:
        group.start_soon(ask)
        await anyio.wait_all_tasks_blocked()
        group.cancel_scope.cancel()
    return admitted


async def test_before_any_limits_are_stated_the_configured_concurrency_holds_and_halves_on_pushback() -> (
    None
):
    clock = VirtualClock(START)
    scheduler = RateLimitScheduler(clock, concurrency=4, max_concurrency=256)
    held = [await scheduler.admit(needs()) for _ in range(4)]
    assert not await admits_now(scheduler, needs())
    scheduler.throttled(None)
    for admission in held[:3]:
        scheduler.release(admission, usage=None, state=None)
    # Halved to 2: the one still in flight leaves room for one more, not three.
    assert await admits_now(scheduler, needs())
    assert not await admits_now(scheduler, needs())


async def test_a_429_holds_back_every_call_for_its_retry_after() -> None:
    clock = VirtualClock(START)
    scheduler = RateLimitScheduler(clock, concurrency=8, max_concurrency=256)
    first = await scheduler.admit(needs())
    scheduler.started(first, stated(50_000))
    scheduler.throttled(7.0)
    assert await admitted_at(clock, scheduler, needs()) == pytest.approx(START + 7)


async def test_another_client_on_the_same_key_lowers_the_bucket_to_what_the_headers_show() -> None:
    clock = VirtualClock(START)
    scheduler = RateLimitScheduler(clock, concurrency=8, max_concurrency=256)
    first = await scheduler.admit(needs())
    scheduler.started(first, stated(60_000 - MAX_TOKENS))
    second: Admission = await scheduler.admit(needs())
    # Someone else took 30,000 between the two calls: the provider had that much less.
    shown = 60_000 - 2 * MAX_TOKENS - 30_000
    scheduler.release(
        second, usage=Usage(uncached_input=PACK, output=MAX_TOKENS), state=stated(shown)
    )
    # Left: 21,488 after both calls and the other client's 30,000. Five more calls take
    # 21,280; a sixth waits for the 4,048 missing, 4.048 s.
    for _ in range(5):
        assert await admitted_at(clock, scheduler, needs()) == START
    assert await admitted_at(clock, scheduler, needs()) == pytest.approx(START + 4.048)


async def test_after_a_429_the_buckets_are_mirrored_from_empty() -> None:
    clock = VirtualClock(START)
    scheduler = RateLimitScheduler(clock, concurrency=8, max_concurrency=256)
    first = await scheduler.admit(needs())
    scheduler.started(first, stated(50_000))
    refused = await scheduler.admit(needs())
    # The mirror thought it had room; the provider did not: it is not trusted above empty.
    scheduler.throttled(1.0)
    scheduler.release(refused, usage=None, state=None, refused=True)
    # From empty, 4,256 tokens at 1,000 a second: 4.256 s, longer than the retry-after.
    assert await admitted_at(clock, scheduler, needs()) == pytest.approx(START + 4.256)
