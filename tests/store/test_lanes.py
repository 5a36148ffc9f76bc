"""What a lane learned about its packs, kept in the store for a restart or another worker."""

from __future__ import annotations

import pytest

from blockpass.store import RunStore
from tests.store.conftest import (
    FINGERPRINT,
    StoreFactory,
    make_call,
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
