"""Rate limits shared by every worker of one provider account, kept in PostgreSQL.

A provider limits an account, not a process: four workers that each respect the headers
they see would together send four times too much. So the workers keep one copy of the
provider's token buckets in the database (`blockpass_rate_limits`, one row per account),
refilled continuously to the limits the provider announces in its headers, and every
request reserves what it needs there before it is sent:

- A reservation always succeeds and may take a bucket below zero; its sender then waits
  until the refill has covered it. Requests queue in reservation order across machines,
  spaced at the provider's rate: no herd of workers waking at one reset.
- Output is reserved at ``max_tokens`` and input at the whole request, as the provider
  counts them at admission; once the answer says what was used (cache reads do not count
  against Anthropic's input limit), the difference goes back.
- Nothing is limited before the provider has announced a limit (its first answer).
- Time is the database's clock, so machines whose clocks disagree still agree on the refill.

One row per account, locked for the few statements of a reservation, so reservations never
deadlock and never both take the same tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import anyio
from psycopg_pool import AsyncConnectionPool

from blockpass.errors import RateLimited
from blockpass.providers.base import (
    ModelProfile,
    ModelRequest,
    ModelResponse,
    Provider,
    RateLimitBucket,
    RateLimitState,
)
from blockpass.providers.batches import BatchApi
from blockpass.usage import Usage

__all__ = ["AccountLimitedProvider", "SharedBuckets", "account_key"]


def account_key(vendor: str, base_url: str | None, api_key: str | None) -> str:
    """Who a provider limits: one account is one key at one address (the key is hashed,
    never stored)."""
    digest = hashlib.sha256(f"{vendor}\n{base_url or ''}\n{api_key or ''}".encode())
    return digest.hexdigest()[:32]


@dataclass(slots=True, kw_only=True)
class _Bucket:
    per_minute: float
    level: float
    updated_at: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        self.level = min(self.per_minute, self.level + elapsed * self.per_minute / 60.0)
        self.updated_at = now


class SharedBuckets:
    """One account's buckets in the database at ``url``; open with ``async with``."""

    def __init__(self, url: str, account: str) -> None:
        self._account = account
        self._pool = AsyncConnectionPool(url, min_size=1, max_size=4, open=False)

    async def __aenter__(self) -> SharedBuckets:
        await self._pool.open(wait=True)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._pool.close()

    async def reserve(self, needs: Mapping[RateLimitBucket, float]) -> float:
        """Take ``needs`` from the buckets; return how many seconds to wait before sending."""
        waits = [0.0]

        def take(buckets: dict[str, _Bucket], now: float) -> None:
            for name, bucket in buckets.items():
                amount = min(needs.get(RateLimitBucket(name), 0.0), bucket.per_minute)
                bucket.level -= amount
                if bucket.level < 0:
                    waits.append(-bucket.level * 60.0 / bucket.per_minute)

        await self._change(take)
        return max(waits)

    async def give_back(self, amounts: Mapping[RateLimitBucket, float]) -> None:
        def add(buckets: dict[str, _Bucket], now: float) -> None:
            for name, bucket in buckets.items():
                returned = max(0.0, amounts.get(RateLimitBucket(name), 0.0))
                bucket.level = min(bucket.per_minute, bucket.level + returned)

        await self._change(add)

    async def announce(self, state: RateLimitState) -> None:
        """What the provider's headers said: a bucket seen for the first time starts at
        what they say is left; a changed limit is taken as it is."""
        limits = _buckets_limited(state.limits)

        def learn(buckets: dict[str, _Bucket], now: float) -> None:
            for bucket, per_minute in limits.items():
                known = buckets.get(bucket.value)
                if known is None:
                    left = state.remaining.get(bucket, per_minute)
                    buckets[bucket.value] = _Bucket(
                        per_minute=per_minute, level=min(left, per_minute), updated_at=now
                    )
                else:
                    known.per_minute = per_minute

        if limits:
            await self._change(learn)

    async def _change(self, change: Callable[[dict[str, _Bucket], float], None]) -> None:
        """Apply ``change`` to the account's buckets, refilled to now, and store them."""
        async with self._pool.connection() as connection, connection.transaction():
            cursor = await connection.execute(
                "SELECT bucket, per_minute, level, extract(epoch FROM updated_at)"
                " FROM blockpass_rate_limits WHERE account = %s ORDER BY bucket FOR UPDATE",
                (self._account,),
            )
            rows = await cursor.fetchall()
            clock = await connection.execute("SELECT extract(epoch FROM clock_timestamp())")
            now_row = await clock.fetchone()
            assert now_row is not None
            now = float(now_row[0])
            buckets = {
                name: _Bucket(per_minute=per_minute, level=level, updated_at=float(updated))
                for name, per_minute, level, updated in rows
            }
            for bucket in buckets.values():
                bucket.refill(now)
            change(buckets, now)
            async with connection.cursor() as writer:
                await writer.executemany(
                    "INSERT INTO blockpass_rate_limits"
                    " (account, bucket, per_minute, level, updated_at)"
                    " VALUES (%s, %s, %s, %s, to_timestamp(%s))"
                    " ON CONFLICT (account, bucket) DO UPDATE SET"
                    " per_minute = excluded.per_minute, level = excluded.level,"
                    " updated_at = excluded.updated_at",
                    [
                        (self._account, name, bucket.per_minute, bucket.level, bucket.updated_at)
                        for name, bucket in buckets.items()
                    ],
                )


def _buckets_limited(limits: Mapping[RateLimitBucket, int]) -> dict[RateLimitBucket, int]:
    """Anthropic's ``tokens`` headers repeat its tightest token bucket: where the input and
    output buckets are announced, they are the limits."""
    split = RateLimitBucket.INPUT_TOKENS in limits or RateLimitBucket.OUTPUT_TOKENS in limits
    return {
        bucket: limit
        for bucket, limit in limits.items()
        if limit > 0 and not (split and bucket is RateLimitBucket.TOKENS)
    }


class AccountLimitedProvider:
    """A provider whose every request first reserves its share of the account's limits.

    ``measure`` counts a request's input tokens as the run's layout does; ``on_send`` hears
    of each request as it leaves, after any wait.
    """

    def __init__(
        self,
        inner: Provider,
        buckets: SharedBuckets,
        *,
        measure: Callable[[ModelRequest], int],
        on_send: Callable[[], None] = lambda: None,
    ) -> None:
        self._inner = inner
        self._buckets = buckets
        self._measure = measure
        self._on_send = on_send
        self.rate_limited = 0

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def profile(self) -> ModelProfile:
        return self._inner.profile

    @property
    def batches(self) -> BatchApi | None:
        return self._inner.batches

    async def complete(self, request: ModelRequest) -> ModelResponse:
        input_tokens = self._measure(request)
        needs = {
            RateLimitBucket.REQUESTS: 1.0,
            RateLimitBucket.INPUT_TOKENS: float(input_tokens),
            RateLimitBucket.OUTPUT_TOKENS: float(request.max_tokens),
            RateLimitBucket.TOKENS: float(input_tokens + request.max_tokens),
        }
        wait = await self._buckets.reserve(needs)
        if wait > 0:
            await anyio.sleep(wait)
        self._on_send()
        try:
            response = await self._inner.complete(request)
        except RateLimited:
            # The reservation stays taken: the buckets were too generous, not the provider.
            self.rate_limited += 1
            raise
        if response.rate_limits is not None:
            await self._buckets.announce(response.rate_limits)
        counted = _counted_input(response.usage, response.rate_limits)
        unused_output = max(0, request.max_tokens - response.usage.output)
        await self._buckets.give_back(
            {
                RateLimitBucket.INPUT_TOKENS: input_tokens - counted,
                RateLimitBucket.OUTPUT_TOKENS: unused_output,
                RateLimitBucket.TOKENS: input_tokens - counted + unused_output,
            }
        )
        return response

    async def aclose(self) -> None:
        close = getattr(self._inner, "aclose", None)
        if close is not None:
            await close()


def _counted_input(usage: Usage, state: RateLimitState | None) -> int:
    """The input tokens the provider's limit counted: cache reads only where they count."""
    counted = usage.uncached_input + usage.cache_write_5m + usage.cache_write_1h
    if state is not None and state.cached_input_counts:
        counted += usage.cache_read
    return counted
