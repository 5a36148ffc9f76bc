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
- A bucket never refills past its size less what requests in flight have reserved: the
  provider's bucket, which has not taken those yet, stops at its size too, and a late
  request must not find it emptier than the copy here says.
- Nothing is limited before the provider has announced a limit (its first answer).
- A 429's ``retry-after`` holds every worker of the account, not only the one refused: the
  buckets were ahead of the provider, and its instruction is to the account.
- Time is the database's clock, so machines whose clocks disagree still agree on the refill.

One row per account, locked for the few statements of a reservation, so reservations never
deadlock and never both take the same tokens.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio
from psycopg import AsyncConnection
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
    # Reserved by requests that have not ended yet.
    in_flight: float = 0.0

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        # What a killed worker reserved is never settled: it fades, a whole bucket's worth
        # in LOST_AFTER_SECONDS, far longer than any request takes.
        self.in_flight = max(0.0, self.in_flight - elapsed * self.per_minute / LOST_AFTER_SECONDS)
        refilled = min(self.ceiling, self.level + elapsed * self.per_minute / 60.0)
        self.level = max(self.level, refilled)
        self.updated_at = now

    @property
    def ceiling(self) -> float:
        return self.per_minute - self.in_flight


# How long before reservations that were never settled stop holding a bucket below its size.
LOST_AFTER_SECONDS = 600.0
# The row of an account that says whether its limits are known (level 1) or being found out
# (level 0, since updated_at) rather than a bucket.
_PROBE = ""
# A first request that has not told the limits by then is presumed lost with its worker.
PROBE_SECONDS = 60.0
PROBE_POLL_SECONDS = 0.2


@dataclass(slots=True, kw_only=True)
class _Account:
    buckets: dict[str, _Bucket]
    # The provider has answered: its limits, or that it announces none, are in ``buckets``.
    known: bool = False
    # When the request that will tell was sent, while they are not known.
    probe_started: float | None = None


class SharedBuckets:
    """One account's buckets in the database at ``url``; open with ``async with``.

    Until the provider has answered once, its limits are unknown and what is left of them
    too: the account's first request goes alone (as the first request of a run does anyway,
    to write the cache), and the others wait for its answer, which tells both.
    """

    def __init__(self, url: str, account: str) -> None:
        self._account = account
        self._pool = AsyncConnectionPool(url, min_size=1, max_size=4, open=False)

    async def __aenter__(self) -> SharedBuckets:
        await self._pool.open(wait=True)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._pool.close()

    async def reserve(self, needs: Mapping[RateLimitBucket, float]) -> tuple[float, bool]:
        """Take ``needs`` from the buckets: how many seconds to wait before sending, and
        whether this request is the account's first (whose answer `settle` must report)."""
        # Another machine's answer ends the wait: it is polled for, no event reaches here.
        while True:
            taken = await self._reserve_once(needs)
            if taken is not None:
                return taken
            await anyio.sleep(PROBE_POLL_SECONDS)

    async def _reserve_once(
        self, needs: Mapping[RateLimitBucket, float]
    ) -> tuple[float, bool] | None:
        """None while another request is finding the limits out."""
        taken: list[tuple[float, bool]] = []

        def take(account: _Account, now: float) -> None:
            if not account.known:
                started = account.probe_started
                if started is None or now - started >= PROBE_SECONDS:
                    account.probe_started = now
                    taken.append((0.0, True))
                return
            waits = [0.0]
            for name, bucket in account.buckets.items():
                amount = min(needs.get(RateLimitBucket(name), 0.0), bucket.per_minute)
                bucket.level -= amount
                bucket.in_flight += amount
                if bucket.level < 0:
                    waits.append(-bucket.level * 60.0 / bucket.per_minute)
            taken.append((max(waits), False))

        await self._change(take)
        return taken[0] if taken else None

    async def settle(
        self,
        state: RateLimitState | None,
        unused: Mapping[RateLimitBucket, float],
        *,
        reserved: Mapping[RateLimitBucket, float],
    ) -> None:
        """An answer came to a request that reserved ``reserved``: learn what its headers
        announce (a bucket seen for the first time starts at what they say is left; a
        changed limit is taken as it is), and give back what was reserved beyond what the
        provider counted."""
        limits = _buckets_limited(state.limits) if state is not None else {}

        def learn(account: _Account, now: float) -> None:
            for announced, per_minute in limits.items():
                known = account.buckets.get(announced.value)
                if known is not None:
                    known.per_minute = per_minute
                elif state is not None:
                    left = state.remaining.get(announced, per_minute)
                    account.buckets[announced.value] = _Bucket(
                        per_minute=per_minute, level=min(left, per_minute), updated_at=now
                    )
            account.known = True
            _end_flight(account, reserved)
            for name, bucket in account.buckets.items():
                returned = max(0.0, unused.get(RateLimitBucket(name), 0.0))
                bucket.level = max(bucket.level, min(bucket.ceiling, bucket.level + returned))

        await self._change(learn)

    async def unanswered(
        self,
        reserved: Mapping[RateLimitBucket, float],
        *,
        first: bool,
        retry_after: float | None = None,
    ) -> None:
        """A request ended without an answer: what it reserved stays taken (the provider
        may have counted it), but is no longer in flight; after a first request, another
        may find the limits out at once. ``retry_after``: the provider refused it (429)
        and said when to try again, which holds for the whole account: every bucket is
        taken down to what it holds that many seconds before refilling to zero, so no
        worker's next request goes before then."""

        def release(account: _Account, now: float) -> None:
            _end_flight(account, reserved)
            if first:
                account.probe_started = None
            if retry_after is not None:
                for bucket in account.buckets.values():
                    owed = retry_after * bucket.per_minute / 60.0
                    bucket.level = min(bucket.level, -owed)

        await self._change(release)

    async def _change(self, change: Callable[[_Account, float], None]) -> None:
        """Apply ``change`` to the account, its buckets refilled to now, and store it."""
        async with self._pool.connection() as connection, connection.transaction():
            # The account's probe row is locked before its buckets are read: rows locked by
            # the statement that reads them come as they were when it began, so a
            # reservation that waited on the first answer's settle would find the limits
            # known but not the buckets that settle created, and go out taking nothing.
            if not await self._lock_account(connection):
                # The first writer creates the row; a rival waits on it here.
                await connection.execute(
                    "INSERT INTO blockpass_rate_limits (account, bucket, per_minute, level,"
                    " updated_at) VALUES (%s, %s, 0, 0, to_timestamp(0)) ON CONFLICT DO NOTHING",
                    (self._account, _PROBE),
                )
                await self._lock_account(connection)
            # Now is when this statement began: after the lock was granted.
            cursor = await connection.execute(
                "SELECT bucket, per_minute, level, in_flight, extract(epoch FROM updated_at),"
                " extract(epoch FROM statement_timestamp())"
                " FROM blockpass_rate_limits WHERE account = %s ORDER BY bucket",
                (self._account,),
            )
            rows = await cursor.fetchall()
            now = float(rows[0][5])
            account = _Account(buckets={})
            for name, per_minute, level, in_flight, updated, _ in rows:
                if name == _PROBE:
                    account.known = level >= 1
                    account.probe_started = float(updated) if float(updated) > 0 else None
                else:
                    bucket = _Bucket(
                        per_minute=per_minute,
                        level=level,
                        in_flight=in_flight,
                        updated_at=float(updated),
                    )
                    bucket.refill(now)
                    account.buckets[name] = bucket
            change(account, now)
            known = 1.0 if account.known else 0.0
            rows_out = [(self._account, _PROBE, 0.0, known, 0.0, account.probe_started or 0.0)]
            rows_out += [
                (self._account, name, each.per_minute, each.level, each.in_flight, each.updated_at)
                for name, each in sorted(account.buckets.items())
            ]
            async with connection.cursor() as writer:
                await writer.executemany(
                    "INSERT INTO blockpass_rate_limits"
                    " (account, bucket, per_minute, level, in_flight, updated_at)"
                    " VALUES (%s, %s, %s, %s, %s, to_timestamp(%s))"
                    " ON CONFLICT (account, bucket) DO UPDATE SET"
                    " per_minute = excluded.per_minute, level = excluded.level,"
                    " in_flight = excluded.in_flight, updated_at = excluded.updated_at",
                    rows_out,
                )

    async def _lock_account(self, connection: AsyncConnection[Any]) -> bool:
        """Lock the account's probe row for the transaction; False if it does not exist yet."""
        cursor = await connection.execute(
            "SELECT 1 FROM blockpass_rate_limits WHERE account = %s AND bucket = %s FOR UPDATE",
            (self._account, _PROBE),
        )
        return await cursor.fetchone() is not None


def _end_flight(account: _Account, reserved: Mapping[RateLimitBucket, float]) -> None:
    for name, bucket in account.buckets.items():
        amount = min(reserved.get(RateLimitBucket(name), 0.0), bucket.per_minute)
        bucket.in_flight = max(0.0, bucket.in_flight - amount)


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
        wait, first = await self._buckets.reserve(needs)
        if wait > 0:
            await anyio.sleep(wait)
        self._on_send()
        try:
            response = await self._inner.complete(request)
        except BaseException as error:
            retry_after = None
            if isinstance(error, RateLimited):
                # The reservation stays taken: the buckets were too generous, not the provider.
                self.rate_limited += 1
                retry_after = error.retry_after
            with anyio.CancelScope(shield=True):
                await self._buckets.unanswered(needs, first=first, retry_after=retry_after)
            raise
        counted = _counted_input(response.usage, response.rate_limits)
        unused_output = max(0, request.max_tokens - response.usage.output)
        await self._buckets.settle(
            response.rate_limits,
            {
                RateLimitBucket.INPUT_TOKENS: input_tokens - counted,
                RateLimitBucket.OUTPUT_TOKENS: unused_output,
                RateLimitBucket.TOKENS: input_tokens - counted + unused_output,
            },
            reserved=needs,
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
