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
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    connection.close()


async def test_results_remember_their_lane_and_are_found_only_under_its_fingerprint(
    stores: StoreFactory,
) -> None:
    store = await stores.open()
    lanes = {LANE: "fp-lane-a", OTHER_LANE: "fp-lane-b"}
    await store.open_run(fingerprint=FINGERPRINT, settings={}, lanes=lanes)
    blocks = await put_numbered_blocks(store, 3)
    first, second, skipped = blocks
    await store.record_call(make_call((first.id,)), [make_result(first, lane=LANE)])
    await store.record_call(make_call((second.id,)), [make_result(second, lane=OTHER_LANE)])
    await store.record_results([make_result(skipped)])

    stored = await store.results()
    assert (stored[first.id].lane, stored[second.id].lane, stored[skipped.id].lane) == (
        LANE,
        OTHER_LANE,
        "",
    )
    hashes = {block.content_hash for block in blocks}
    assert set(await store.lookup_previous_results(hashes, "fp-lane-a")) == {first.content_hash}
    assert set(await store.lookup_previous_results(hashes, "fp-lane-b")) == {second.content_hash}
    # A result of no lane (here, one made without a model) is the run's own.
    assert set(await store.lookup_previous_results(hashes, FINGERPRINT)) == {skipped.content_hash}


async def test_a_version_4_store_gains_lanes_and_its_rows_belong_to_the_only_lane(
    tmp_path: Path,
) -> None:
    store = await open_sqlite_store(tmp_path)
    await store.open_run(fingerprint=FINGERPRINT, settings={})
    blocks = await put_numbered_blocks(store, 1)
    await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    await store.add_batch(label="blockpass-old", provider="sandbox", items=[])
    await store.close()
    make_older(tmp_path, 4)

    store = await open_sqlite_store(tmp_path)
    await store.open_run(fingerprint=FINGERPRINT, settings={})
    (result,) = (await store.results()).values()
    (batch,) = await store.batches()
    assert result.lane == batch.lane == ""
    assert batch.belongs_to(LANE)
    assert batch.belongs_to(OTHER_LANE)
    await store.close()
