"""A run's pending blocks handed out in leased batches, and results taken back like a
model's: two clients never share a block, an expired lease gives its blocks back, and
hostile submissions are refused or counted, never stored for the wrong block."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from blockpass.blocks import BY_AGENT, Outcome
from blockpass.mcp_bridge.run_desk import DeskError, RunDesk
from blockpass.pipeline import run_job
from blockpass.prices import load_prices
from blockpass.store import LeaseKind, open_sqlite_store
from tests.execution.clocks import StoreClock
from tests.mcp_bridge.conftest import PendingRun

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def desk_on(
    run_dir: Path, clock: Callable[[], float] | None = None
) -> AsyncIterator[RunDesk]:
    """A desk on its own connection to the run's store, as a second server would have."""
    store = await open_sqlite_store(run_dir, clock=clock or StoreClock())
    try:
        assert await store.join_run()
        yield RunDesk(store, lease_seconds=60)
    finally:
        await store.close()


async def test_two_clients_asking_at_once_never_get_the_same_block(
    pending_run: PendingRun,
) -> None:
    run_dir = pending_run.spec.out_dir
    got: dict[str, list[str]] = {}
    async with desk_on(run_dir) as one, desk_on(run_dir) as two:

        async def take(name: str, desk: RunDesk) -> None:
            while (batch := await desk.batch(budget_tokens=None, max_blocks=1)) is not None:
                got.setdefault(name, []).extend(block.id for block in batch.blocks.values())

        async with anyio.create_task_group() as group:
            group.start_soon(take, "one", one)
            group.start_soon(take, "two", two)
    handed = got.get("one", []) + got.get("two", [])
    assert sorted(handed) == sorted(set(handed))
    assert len(handed) == pending_run.blocks


async def test_a_lease_that_expires_gives_its_blocks_to_the_next_batch_and_voids_its_batch(
    pending_run: PendingRun,
) -> None:
    clock = StoreClock()
    run_dir = pending_run.spec.out_dir
    async with desk_on(run_dir, clock) as one, desk_on(run_dir, clock) as two:
        first = await one.batch(budget_tokens=None, max_blocks=pending_run.blocks)
        assert first is not None
        assert await two.batch(budget_tokens=None, max_blocks=1) is None
        clock.now += 61
        again = await two.batch(budget_tokens=None, max_blocks=pending_run.blocks)
        assert again is not None
        assert list(again.blocks.values()) == list(first.blocks.values())
        with pytest.raises(DeskError, match="expired"):
            await one.submit(first.id, [{"id": "b1", "verdict": "ok"}])


async def test_the_budget_bounds_a_batch_and_a_block_over_it_is_a_clear_error(
    pending_run: PendingRun,
) -> None:
    async with desk_on(pending_run.spec.out_dir) as desk:
        with pytest.raises(DeskError, match="the next block alone is"):
            await desk.batch(budget_tokens=1, max_blocks=None)
        small = await desk.batch(budget_tokens=120, max_blocks=None)
        assert small is not None
        assert 1 <= len(small.blocks) < pending_run.blocks
        assert small.tokens <= 120
        for budget, blocks in ((0, None), (None, None), (None, 0), (None, 10_000)):
            with pytest.raises(DeskError):
                await desk.batch(budget_tokens=budget, max_blocks=blocks)


async def test_submitted_results_are_checked_like_a_models_and_a_later_run_counts_them(
    pending_run: PendingRun,
) -> None:
    async with desk_on(pending_run.spec.out_dir) as desk:
        batch = await desk.batch(budget_tokens=None, max_blocks=pending_run.blocks)
        assert batch is not None
        first_text = batch.blocks["b1"].text
        word = first_text.split()[0]
        results = [
            {"id": "b1", "verdict": "edit", "edits": [
                {"find": word, "replace": word.upper(), "rule": "caps"},
                {"find": "not in the block at all", "replace": "x", "rule": "caps"},
            ], "notes": []},
            {"id": "b2", "verdict": "ok"},
            {"id": "b2", "verdict": "ok"},  # duplicated
            {"id": "b99", "verdict": "ok"},  # not in the batch
            {"id": "b3", "verdict": "maybe"},  # invalid
            *({"id": short_id, "verdict": "ok"} for short_id in list(batch.blocks)[3:]),
        ]  # fmt: skip
        submitted = await desk.submit(batch.id, results)
        assert submitted.missing == ("b3",)
        assert submitted.duplicate_ids == 1
        assert submitted.unknown_ids == 1
        assert submitted.invalid_items == 1
        assert submitted.rejected_edits == 1
        with pytest.raises(DeskError, match="unknown batch id"):
            await desk.submit(batch.id, results)  # the same batch twice
        with pytest.raises(DeskError, match="unknown batch id"):
            await desk.submit("forged-" + batch.id, results)
        stored = await desk.previous(content_hash=None, block_id=batch.blocks["b1"].id)
        assert stored[0].reason == BY_AGENT
        assert [edit.find for edit in stored[0].edits] == [word]
        assert [block.id for block in await desk.pending()] == [batch.blocks["b3"].id]
        with pytest.raises(DeskError, match="exactly one"):
            await desk.previous(content_hash="x", block_id="y")

    # The model does the one block left; the report counts the agent's.
    outcome = await run_job(pending_run.spec, pending_run.provider, load_prices())
    assert outcome.this_run.already_done == pending_run.blocks - 1
    assert outcome.this_run.answered == 1
    assert outcome.breakdown.by_agents == pending_run.blocks - 1
    assert outcome.outcomes == {Outcome.RESULT.value: pending_run.blocks}


async def test_a_batch_is_submitted_once_through_another_server_after_the_one_that_handed_it_out_is_gone(
    pending_run: PendingRun,
) -> None:
    run_dir = pending_run.spec.out_dir
    async with desk_on(run_dir) as first:
        batch = await first.batch(budget_tokens=None, max_blocks=3)
    assert batch is not None
    answers = [{"id": short_id, "verdict": "ok"} for short_id in batch.blocks]
    async with desk_on(run_dir) as second:
        submitted = await second.submit(batch.id, answers)
        pending = await second.pending()
    assert submitted.stored == tuple(batch.blocks)
    assert {block.id for block in pending}.isdisjoint(b.id for b in batch.blocks.values())
    async with desk_on(run_dir) as third:
        with pytest.raises(DeskError, match="unknown batch id"):
            await third.submit(batch.id, answers)


async def test_a_batch_some_of_whose_blocks_went_to_another_client_is_refused_whole(
    pending_run: PendingRun,
) -> None:
    clock = StoreClock()
    run_dir = pending_run.spec.out_dir
    async with desk_on(run_dir, clock) as first, desk_on(run_dir, clock) as second:
        batch = await first.batch(budget_tokens=None, max_blocks=2)
        assert batch is not None
        # Its first block's lease runs out first and another client takes the block.
        store = await open_sqlite_store(run_dir, clock=clock)
        try:
            (lease, _) = [
                lease
                for lease in await store.leases(LeaseKind.BLOCK)
                if lease.worker.endswith(batch.id)
            ]
            await store.release(lease)
        finally:
            await store.close()
        taken = await second.batch(budget_tokens=None, max_blocks=1)
        assert taken is not None
        assert list(taken.blocks.values()) == [batch.blocks["b1"]]
        with pytest.raises(DeskError, match="some of its blocks went back"):
            await first.submit(batch.id, [{"id": "b2", "verdict": "ok"}])
        assert batch.blocks["b2"] in await second.pending()
