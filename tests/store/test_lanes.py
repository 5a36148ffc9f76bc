"""What a lane learned about its packs, kept in the store for a restart or another worker."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from blockpass.sandbox.clock import ManualClock
from blockpass.store import RUN_FILE_NAME, SCHEMA_VERSION, LeaseKind, RunStore, open_sqlite_store
from tests.store.conftest import (
    FINGERPRINT,
    StoreFactory,
    make_call,
    make_older,
    make_result,
    put_numbered_blocks,
)

pytestmark = pytest.mark.anyio
LANE = "sandbox:claude-sonnet-4-5"
OTHER_LANE = "sandbox:gpt-5-mini"


async def test_a_pack_size_bound_only_shrinks_whoever_stores_it(
    store: RunStore, stores: StoreFactory
) -> None:
    blocks = await put_numbered_blocks(store, 3)
    other_worker = await stores.open()

    await store.limit_pack_sizes(LANE, {blocks[0].id: 20, blocks[1].id: 5})
    await other_worker.limit_pack_sizes(LANE, {blocks[0].id: 10, blocks[1].id: 8})

    assert await store.pack_sizes(LANE) == {blocks[0].id: 10, blocks[1].id: 5}


async def test_pack_sizes_and_output_estimates_are_kept_per_lane_across_a_reopen(
    store: RunStore, stores: StoreFactory
) -> None:
    blocks = await put_numbered_blocks(store, 2)
    await store.limit_pack_sizes(LANE, {blocks[0].id: 4})
    await store.limit_pack_sizes(OTHER_LANE, {blocks[1].id: 2})
    await store.save_output_estimates(LANE, {"paragraph": 41.5, "heading": 12.0})
    await store.save_output_estimates(LANE, {"paragraph": 38.25})
    await store.close()

    reopened = await stores.open()

    assert await reopened.pack_sizes(LANE) == {blocks[0].id: 4}
    assert await reopened.pack_sizes(OTHER_LANE) == {blocks[1].id: 2}
    assert await reopened.output_estimates(LANE) == {"paragraph": 38.25, "heading": 12.0}
    assert await reopened.output_estimates(OTHER_LANE) == {}


async def test_a_pack_size_for_a_block_never_stored_is_refused(store: RunStore) -> None:
    with pytest.raises(ValueError, match="refused"):
        await store.limit_pack_sizes(LANE, {"doc.md#404": 3})
    assert await store.pack_sizes(LANE) == {}


# SQLite only: a run directory written before leases and lanes.


async def test_a_version_3_store_opens_with_its_run_and_gains_leases_and_lane_state(
    tmp_path: Path,
) -> None:
    store = await open_sqlite_store(tmp_path)
    await store.open_run(fingerprint=FINGERPRINT, settings={"model": "m"})
    blocks = await put_numbered_blocks(store, 2)
    await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    await store.close()
    make_older(tmp_path, 3)

    clock = ManualClock()
    store = await open_sqlite_store(tmp_path, clock=clock.now)
    await store.open_run(fingerprint=FINGERPRINT, settings={"model": "m"})
    assert len(await store.calls()) == 1
    assert set(await store.results()) == {blocks[0].id}
    await store.limit_pack_sizes(LANE, {blocks[1].id: 5})
    assert await store.pack_sizes(LANE) == {blocks[1].id: 5}
    lease = await store.claim(LeaseKind.PACK, ["p-1"], worker="a", seconds=30)
    assert lease is not None
    assert lease.expires_at == clock.now() + 30
    await store.close()
    with sqlite3.connect(tmp_path / RUN_FILE_NAME) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    connection.close()
