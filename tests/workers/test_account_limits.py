"""Rate limits shared by the workers of one provider account, in a real PostgreSQL: two
`SharedBuckets` on one account stand for two workers on two machines."""

from __future__ import annotations

import uuid

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


async def two_workers(dsn: str) -> tuple[SharedBuckets, SharedBuckets]:
    await prepare_database(dsn)
    account = uuid.uuid4().hex
    return SharedBuckets(dsn, account), SharedBuckets(dsn, account)


async def test_workers_of_one_account_queue_for_its_announced_rate_whoever_reserves(
    postgres_server: PostgresServer,
) -> None:
    first, second = await two_workers(postgres_server.dsn())
    async with first, second:
        # 60 requests a minute, 2 left: one more every second.
        await first.announce(
            RateLimitState(remaining={REQUESTS: 2}, reset_at={}, limits={REQUESTS: 60})
        )
        waits = [await worker.reserve({REQUESTS: 1}) for worker in (first, second, first, second)]
        assert waits[:2] == [0.0, 0.0]
        assert 1 - SLACK < waits[2] <= 1
        assert 2 - SLACK < waits[3] <= 2, "the second worker waits behind the first's turn"
        await second.give_back({REQUESTS: 2})
        assert 1 - SLACK < await first.reserve({REQUESTS: 1}) <= 1


async def test_nothing_is_limited_before_the_provider_announces_a_limit(
    postgres_server: PostgresServer,
) -> None:
    first, _ = await two_workers(postgres_server.dsn())
    async with first:
        assert [await first.reserve({REQUESTS: 1}) for _ in range(5)] == [0.0] * 5


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
        await first.announce(RateLimitState(remaining=limits, reset_at={}, limits=limits))
        needs = {
            RateLimitBucket.TOKENS: 1_100,
            RateLimitBucket.INPUT_TOKENS: 1_000,
            RateLimitBucket.OUTPUT_TOKENS: 100,
        }
        assert [await second.reserve(needs) for _ in range(6)] == [0.0] * 6
        # The output bucket is empty now: 100 tokens at 10 a second.
        assert 10 - SLACK < await first.reserve(needs) <= 10


def test_an_account_is_a_key_at_an_address() -> None:
    one = account_key("anthropic", None, "key-1")
    assert one == account_key("anthropic", None, "key-1")
    assert one != account_key("anthropic", None, "key-2")
    assert one != account_key("anthropic", "http://127.0.0.1:9", "key-1")
    assert "key-1" not in one
