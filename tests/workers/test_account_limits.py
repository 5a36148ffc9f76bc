"""Rate limits shared by the workers of one provider account, in a real PostgreSQL: two
`SharedBuckets` on one account stand for two workers on two machines."""

from __future__ import annotations

import uuid

import anyio
import psycopg
import pytest

from blockpass.providers.base import RateLimitBucket, RateLimitState
from blockpass.workers.account_limits import SharedBuckets, account_key
from blockpass.workers.queue import prepare_database
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.anyio

REQUESTS = RateLimitBucket.REQUESTS
# Reservations in one test run within this many seconds of each other (the refill between
# them makes each wait that much shorter).
SLACK = 0.5


async def two_workers(dsn: str, account: str = "") -> tuple[SharedBuckets, SharedBuckets]:
    await prepare_database(dsn)
    account = account or uuid.uuid4().hex
    return SharedBuckets(dsn, account), SharedBuckets(dsn, account)


def announced(
    remaining: dict[RateLimitBucket, int], limits: dict[RateLimitBucket, int]
) -> RateLimitState:
    return RateLimitState(remaining=remaining, reset_at={}, limits=limits)


async def test_an_accounts_first_request_goes_alone_and_its_answer_tells_the_others(
    postgres_server: PostgresServer,
) -> None:
    first, second = await two_workers(postgres_server.dsn())
    async with first, second:
        assert await first.reserve({REQUESTS: 1}) == (0.0, True)
        waited: list[tuple[float, bool]] = []

        async def reserve_second() -> None:
            waited.append(await second.reserve({REQUESTS: 1}))

        async with anyio.create_task_group() as group:
            group.start_soon(reserve_second)
            await anyio.wait_all_tasks_blocked()
            assert not waited, "nothing goes out before the limits are known"
            # 60 requests a minute, 2 left: one more every second.
            await first.settle(announced({REQUESTS: 2}, {REQUESTS: 60}), {}, reserved={})
        assert waited == [(0.0, False)]


async def test_workers_of_one_account_queue_for_its_announced_rate_whoever_reserves(
    postgres_server: PostgresServer,
) -> None:
    first, second = await two_workers(postgres_server.dsn())
    async with first, second:
        await first.reserve({REQUESTS: 1})
        await first.settle(announced({REQUESTS: 2}, {REQUESTS: 60}), {}, reserved={})
        waits = [
            (await worker.reserve({REQUESTS: 1}))[0] for worker in (first, second, first, second)
        ]
        assert waits[:2] == [0.0, 0.0]
        assert 1 - SLACK < waits[2] <= 1
        assert 2 - SLACK < waits[3] <= 2, "the second worker waits behind the first's turn"
        await second.settle(None, {REQUESTS: 2}, reserved={})
        wait, first_request = await first.reserve({REQUESTS: 1})
        assert 1 - SLACK < wait <= 1
        assert not first_request


async def test_a_provider_that_announces_no_limits_is_not_limited(
    postgres_server: PostgresServer,
) -> None:
    first, second = await two_workers(postgres_server.dsn())
    async with first, second:
        await first.reserve({REQUESTS: 1})
        await first.settle(None, {}, reserved={})
        assert [await second.reserve({REQUESTS: 1}) for _ in range(5)] == [(0.0, False)] * 5


async def test_a_first_request_that_failed_lets_another_find_the_limits_out(
    postgres_server: PostgresServer,
) -> None:
    first, second = await two_workers(postgres_server.dsn())
    async with first, second:
        assert await first.reserve({REQUESTS: 1}) == (0.0, True)
        await first.unanswered({REQUESTS: 1}, first=True)
        assert await second.reserve({REQUESTS: 1}) == (0.0, True)


async def test_anthropics_tokens_headers_stand_aside_where_input_and_output_are_announced(
    postgres_server: PostgresServer,
) -> None:
    first, second = await two_workers(postgres_server.dsn())
    async with first, second:
        limits = {
            RateLimitBucket.TOKENS: 10,
            RateLimitBucket.INPUT_TOKENS: 6_000,
            RateLimitBucket.OUTPUT_TOKENS: 600,
        }
        await first.reserve({REQUESTS: 1})
        await first.settle(announced(limits, limits), {}, reserved={})
        needs = {
            RateLimitBucket.TOKENS: 1_100,
            RateLimitBucket.INPUT_TOKENS: 1_000,
            RateLimitBucket.OUTPUT_TOKENS: 100,
        }
        assert [(await second.reserve(needs))[0] for _ in range(6)] == [0.0] * 6
        # The output bucket is empty now: 100 tokens at 10 a second.
        assert 10 - SLACK < (await first.reserve(needs))[0] <= 10


def test_an_account_is_a_key_at_an_address() -> None:
    one = account_key("anthropic", None, "key-1")
    assert one == account_key("anthropic", None, "key-1")
    assert one != account_key("anthropic", None, "key-2")
    assert one != account_key("anthropic", "http://127.0.0.1:9", "key-1")
    assert "key-1" not in one


async def test_a_full_bucket_does_not_refill_what_requests_in_flight_have_reserved(
    postgres_server: PostgresServer,
) -> None:
    account = uuid.uuid4().hex
    first, second = await two_workers(postgres_server.dsn(), account)
    async with first, second:
        await first.reserve({REQUESTS: 1})
        await first.settle(announced({REQUESTS: 60}, {REQUESTS: 60}), {}, reserved={})
        assert await first.reserve({REQUESTS: 1}) == (0.0, False)
        # Two seconds pass with that request in flight: the provider's bucket, full, has not
        # taken it yet and stops at 60; this one at 60 less (nearly all of) the one in flight.
        async with await psycopg.AsyncConnection.connect(postgres_server.dsn()) as connection:
            await connection.execute(
                "UPDATE blockpass_rate_limits SET updated_at = updated_at - interval '2 s'"
                " WHERE account = %s",
                (account,),
            )
        waits = [(await second.reserve({REQUESTS: 1}))[0] for _ in range(60)]
        assert waits[:59] == [0.0] * 59
        assert 1 - SLACK < waits[59] <= 1
        await first.unanswered({REQUESTS: 1}, first=False)


async def blocked_on_locks(connection: psycopg.AsyncConnection[object], count: int) -> None:
    """Until ``count`` other sessions wait on a lock (bounded by the caller)."""
    while True:
        cursor = await connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database()"
        )
        row = await cursor.fetchone()
        if row is not None and row[0] >= count:
            return
        await anyio.lowlevel.checkpoint()


async def test_a_reservation_that_waited_on_the_first_answer_takes_from_the_buckets_it_created(
    postgres_server: PostgresServer,
) -> None:
    account = uuid.uuid4().hex
    first, second = await two_workers(postgres_server.dsn(), account)
    async with first, second:
        assert await first.reserve({REQUESTS: 1}) == (0.0, True)
        async with (
            await psycopg.AsyncConnection.connect(postgres_server.dsn()) as holder,
            await psycopg.AsyncConnection.connect(
                postgres_server.dsn(), autocommit=True
            ) as watcher,
        ):
            # Another worker's change holds the account while the first answer's settle
            # and then a reservation queue behind it, in that order.
            await holder.execute(
                "SELECT 1 FROM blockpass_rate_limits WHERE account = %s FOR UPDATE", (account,)
            )
            waited: list[tuple[float, bool]] = []

            async def settle_first() -> None:
                # 60 a minute and none left: the next request waits a second.
                await first.settle(announced({REQUESTS: 0}, {REQUESTS: 60}), {}, reserved={})

            async def reserve() -> None:
                waited.append(await second.reserve({REQUESTS: 1}))

            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    group.start_soon(settle_first)
                    await blocked_on_locks(watcher, 1)
                    group.start_soon(reserve)
                    await blocked_on_locks(watcher, 2)
                    await holder.commit()
        ((wait, first_request),) = waited
        assert not first_request
        assert 1 - SLACK < wait <= 1, "the reservation took its request from the new bucket"


async def test_a_429_holds_every_worker_of_the_account_for_its_retry_after(
    postgres_server: PostgresServer,
) -> None:
    first, second = await two_workers(postgres_server.dsn())
    async with first, second:
        await first.reserve({REQUESTS: 1})
        await first.settle(announced({REQUESTS: 50}, {REQUESTS: 60}), {}, reserved={})
        assert await first.reserve({REQUESTS: 1}) == (0.0, False)
        await first.unanswered({REQUESTS: 1}, first=False, retry_after=5.0)
        wait, _ = await second.reserve({REQUESTS: 1})
        assert 6 - SLACK < wait <= 6, "five seconds held, then its own request's second"
