"""Realtime calls paced to the provider's rate limits, as its headers state them.

A provider that sends rate-limit headers (``RateLimitState``: each bucket's per-minute limit
and what is left) is mirrored here, bucket by bucket, the way the provider documents its
buckets (``PROVIDERS.md``): each refills continuously up to one minute's worth; a call takes
one request, its input as the provider counts it, and its ``max_tokens`` of output, which the
provider reserves when it admits the call and gives back, less what was generated, when the
call ends. A call is sent as soon as every bucket holds what it needs, so the binding limit
stays near full without a 429, and as many calls are in flight as the limits allow: the
headers set the concurrency, not a fixed number. ``max_tokens`` is the planner's output
estimate with headroom (``layout.output_reserve``), so that estimate decides how many
calls fit the output bucket at once.

- Input as the provider counts it: Anthropic's input bucket leaves cache reads out, so once
  the prefix is cached a call needs only what follows it; OpenAI's one tokens bucket counts
  the whole prompt and the output together (``RateLimitState.cached_input_counts``).
- The mirror is corrected by every answer: the input the provider actually counted replaces
  the estimate, and a bucket the headers show lower than the mirror expected (another client
  on the same key) is lowered to match.
- A 429 stops every admission for its ``retry-after`` and empties the mirrored buckets: the
  mirror was ahead of the provider (a clock apart, a request that took long to arrive), and
  from empty it is behind it again.
- Before the first headers, and for a provider that sends none, concurrency is adaptive
  instead (``AdaptiveLimit``): it halves when the provider pushes back and grows back with
  successes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import anyio

from blockpass.execution.clock import Clock
from blockpass.providers.base import RateLimitBucket, RateLimitState
from blockpass.usage import Usage

__all__ = ["AdaptiveLimit", "Admission", "CallNeeds", "RateLimitScheduler"]

# A bucket the headers show this much lower than the mirror expected is corrected; less is
# rounding and the headers' coarse timing.
_DRIFT_TOLERANCE = 0.02


@dataclass(slots=True)
class AdaptiveLimit:
    """Concurrency that halves when the provider pushes back and creeps up when it doesn't."""

    ceiling: int
    limit: int = 0
    successes: int = 0

    def __post_init__(self) -> None:
        self.limit = self.ceiling

    def throttled(self) -> None:
        self.limit = max(1, self.limit // 2)
        self.successes = 0

    def succeeded(self) -> None:
        self.successes += 1
        if self.successes >= self.limit and self.limit < self.ceiling:
            self.limit += 1
            self.successes = 0


@dataclass(slots=True)
class _Bucket:
    """One provider bucket as this client sees it: a level refilling to ``per_minute``."""

    per_minute: int
    level: float
    updated_at: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        self.level = min(float(self.per_minute), self.level + elapsed * self.per_minute / 60.0)
        self.updated_at = now

    def seconds_until(self, amount: int) -> float:
        # A call larger than the whole bucket goes when the bucket is full; the provider
        # then decides.
        missing = min(amount, self.per_minute) - self.level
        # At least a millisecond: a shortfall of a rounding error still moves the clock on.
        return 0.0 if missing <= 0 else max(0.001, missing * 60.0 / self.per_minute)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallNeeds:
    """What one call takes before it is sent: ``prompt_tokens`` is the whole prompt and
    ``cached_tokens`` the part expected from the cache; ``output_reserve`` its max_tokens."""

    prompt_tokens: int
    cached_tokens: int
    output_reserve: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    """A call let through: what it took from each bucket, and each level just after."""

    needs: CallNeeds
    taken: dict[RateLimitBucket, int] = field(default_factory=dict)
    level_after: dict[RateLimitBucket, float] = field(default_factory=dict)
    sent_at: float = 0.0


class RateLimitScheduler:
    def __init__(self, clock: Clock, *, concurrency: int, max_concurrency: int) -> None:
        """``concurrency``: calls in flight while no limits are known (adaptive);
        ``max_concurrency``: never more in flight, whatever the limits allow."""
        self._clock = clock
        self._adaptive = AdaptiveLimit(ceiling=max(1, min(concurrency, max_concurrency)))
        self._max_concurrency = max(1, max_concurrency)
        self._buckets: dict[RateLimitBucket, _Bucket] = {}
        self._cached_input_counts = False
        self._in_flight = 0
        self._paused_until = 0.0
        self._turn = anyio.Lock()
        self._released = anyio.Event()

    @property
    def limits(self) -> dict[RateLimitBucket, int]:
        """The per-minute limits the provider has stated, by bucket (empty before)."""
        return {bucket: state.per_minute for bucket, state in self._buckets.items()}

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def admit(self, needs: CallNeeds) -> Admission:
        """Wait until the call may go, then take what it needs. Callers are let through in
        the order they asked (one waits at the head; the rest queue behind it)."""
        async with self._turn:
            while True:
                now = self._clock.now()
                wait = self._paused_until - now
                if self._in_flight >= self._concurrency:
                    await self._wait_for_release(None)
                    continue
                amounts = self._amounts(needs)
                for bucket, mirror in self._buckets.items():
                    mirror.refill(now)
                    wait = max(wait, mirror.seconds_until(amounts[bucket]))
                if wait <= 0:
                    return self._take(needs, amounts, now)
                await self._wait_for_release(wait)

    def release(
        self,
        admission: Admission,
        *,
        usage: Usage | None,
        state: RateLimitState | None,
        refused: bool = False,
    ) -> None:
        """The call is over: give back what it did not use, and learn from its headers.

        ``usage`` None: nothing was generated or counted (an error before or instead of an
        answer), so everything it took comes back but the request itself. ``refused``: a
        429, so the mirror was ahead of the provider; every bucket starts again from empty,
        which is never ahead of it.
        """
        self._in_flight -= 1
        now = self._clock.now()
        counted = self._counted(admission, usage)
        if state is not None:
            self._learn(state, admission, counted, observed_at=admission.sent_at)
        for bucket, taken in admission.taken.items():
            mirror = self._buckets.get(bucket)
            if mirror is None:
                continue
            mirror.refill(now)
            given_back = taken - counted[bucket]
            mirror.level = (
                min(mirror.level, 0.0)
                if refused
                else min(float(mirror.per_minute), mirror.level + given_back)
            )
        if usage is not None:
            self._adaptive.succeeded()
        self._wake()

    def throttled(self, retry_after: float | None) -> None:
        """A 429 or an overload: no call goes out for ``retry_after`` seconds, and without
        stated limits the concurrency halves."""
        if retry_after is not None:
            self._paused_until = max(self._paused_until, self._clock.now() + retry_after)
        self._adaptive.throttled()

    def started(self, admission: Admission, state: RateLimitState | None) -> None:
        """The call's response has begun: its headers may state the limits already."""
        if state is not None and not self._buckets:
            # The headers describe the bucket when the provider admitted the call, some
            # time after it was sent: counted from now, the mirror is never ahead of it.
            self._learn(state, admission, {}, observed_at=self._clock.now())
            self._wake()

    @property
    def _concurrency(self) -> int:
        return self._max_concurrency if self._buckets else self._adaptive.limit

    def _amounts(self, needs: CallNeeds) -> dict[RateLimitBucket, int]:
        """What the call takes from each bucket a provider may have."""
        prompt = needs.prompt_tokens - (0 if self._cached_input_counts else needs.cached_tokens)
        return {
            RateLimitBucket.REQUESTS: 1,
            RateLimitBucket.INPUT_TOKENS: prompt,
            RateLimitBucket.OUTPUT_TOKENS: needs.output_reserve,
            RateLimitBucket.TOKENS: prompt + needs.output_reserve,
        }

    def _counted(self, admission: Admission, usage: Usage | None) -> dict[RateLimitBucket, int]:
        """What the provider counted in the end, by bucket (the request always counts)."""
        if usage is None:
            return {bucket: 0 for bucket in admission.taken} | {RateLimitBucket.REQUESTS: 1}
        prompt = usage.uncached_input + usage.cache_write
        if self._cached_input_counts:
            prompt += usage.cache_read
        return {
            RateLimitBucket.REQUESTS: 1,
            RateLimitBucket.INPUT_TOKENS: prompt,
            RateLimitBucket.OUTPUT_TOKENS: usage.output,
            RateLimitBucket.TOKENS: prompt + usage.output,
        }

    def _take(self, needs: CallNeeds, amounts: dict[RateLimitBucket, int], now: float) -> Admission:
        level_after: dict[RateLimitBucket, float] = {}
        for bucket, mirror in self._buckets.items():
            mirror.level -= amounts[bucket]
            level_after[bucket] = mirror.level
        self._in_flight += 1
        # Every bucket's amount is kept, known or not: the first call's headers create the
        # buckets with it already taken out, and its release gives back what it did not use.
        return Admission(needs=needs, taken=amounts, level_after=level_after, sent_at=now)

    def _learn(
        self,
        state: RateLimitState,
        admission: Admission,
        counted: dict[RateLimitBucket, int],
        *,
        observed_at: float,
    ) -> None:
        """Limits from the headers; a level lower than the mirror expects is taken as true.

        The headers describe the provider's bucket right after it admitted this call, a
        little after it was sent, having counted the prompt as it really was. A bucket seen
        for the first time is mirrored as it was at ``observed_at``.
        """
        self._cached_input_counts = state.cached_input_counts
        separate = {RateLimitBucket.INPUT_TOKENS, RateLimitBucket.OUTPUT_TOKENS} & set(state.limits)
        for bucket, per_minute in state.limits.items():
            remaining = state.remaining.get(bucket)
            # Anthropic's "tokens" headers repeat its tightest token bucket: not a bucket.
            skip = bucket is RateLimitBucket.TOKENS and separate
            if remaining is None or per_minute <= 0 or skip:
                continue
            mirror = self._buckets.get(bucket)
            if mirror is None:
                self._buckets[bucket] = _Bucket(
                    per_minute=per_minute, level=float(remaining), updated_at=observed_at
                )
                continue
            mirror.per_minute = per_minute
            expected = admission.level_after.get(bucket)
            if expected is None:
                continue
            if bucket is not RateLimitBucket.REQUESTS:
                # The output reserve was max_tokens on both sides; the prompt was estimated.
                taken_prompt = admission.taken[RateLimitBucket.INPUT_TOKENS]
                expected -= counted[RateLimitBucket.INPUT_TOKENS] - taken_prompt
            drift = expected - remaining
            if drift > _DRIFT_TOLERANCE * per_minute:
                mirror.level -= drift

    async def _wait_for_release(self, seconds: float | None) -> None:
        """Until a call gives something back or ``seconds`` pass, whichever comes first."""
        released = self._released
        async with anyio.create_task_group() as group:

            async def timer(seconds: float) -> None:
                await self._clock.sleep(seconds)
                group.cancel_scope.cancel()

            async def release() -> None:
                await released.wait()
                group.cancel_scope.cancel()

            if seconds is not None:
                group.start_soon(timer, seconds)
            group.start_soon(release)

    def _wake(self) -> None:
        self._released.set()
        self._released = anyio.Event()
