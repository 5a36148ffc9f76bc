"""Calls stored as started before they are sent, and closed by the record of their answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from blockpass.store import CallStart, RunStore
from tests.store.conftest import (
    StoreFactory,
    make_block,
    make_call,
    make_result,
    put_numbered_blocks,
)

pytestmark = pytest.mark.anyio


def make_start(block_ids: tuple[str, ...]) -> CallStart:
    return CallStart(
        pack_id="pack-1",
        provider="anthropic",
        model="claude-sonnet-4-5",
        block_ids=block_ids,
        attempt=2,
        input_tokens=3456,
        max_output=700,
        cache_ttl="5m",
        started_at=1_700_000_000.5,
    )


async def test_a_started_call_stays_open_until_its_answer_is_stored_with_it(
    stores: StoreFactory, store: RunStore
) -> None:
    blocks = await put_numbered_blocks(store, 2)
    ids = tuple(block.id for block in blocks)
    first = await store.start_call(make_start(ids))
    second = await store.start_call(make_start(ids[:1]))
    assert second > first

    call_id = await store.record_call(
        make_call(ids, start_id=first), [make_result(block) for block in blocks]
    )

    assert await store.call_starts() == [
        replace(make_start(ids), id=first, call_id=call_id),
        replace(make_start(ids[:1]), id=second),
    ]
    reopened = await stores.open()
    assert [start.id for start in await reopened.call_starts(open_only=True)] == [second]
    assert [call.start_id for call in await reopened.calls()] == [None]


async def test_a_record_call_that_fails_leaves_its_start_open(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 1)
    start_id = await store.start_call(make_start((blocks[0].id,)))
    unknown = make_block("other.md", 0)

    with pytest.raises(ValueError, match="refused"):
        await store.record_call(
            make_call((blocks[0].id,), start_id=start_id), [make_result(unknown)]
        )

    assert [start.id for start in await store.call_starts(open_only=True)] == [start_id]
