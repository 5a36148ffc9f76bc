"""Block leases as a worker holds them: claims around other workers' leases and results,
renewals that never drop a lease given up and taken again meanwhile, a lease lost to another
worker dropped with a warning."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blockpass.execution.block_leases import BlockLeases
from blockpass.store import Lease, LeaseKind, RunStore, open_sqlite_store
from tests.execution.clocks import StoreClock
from tests.store.conftest import FINGERPRINT, SETTINGS, make_result, put_numbered_blocks

pytestmark = pytest.mark.anyio


@pytest.fixture
def clock() -> StoreClock:
    return StoreClock()


@pytest.fixture
async def store(tmp_path: Path, clock: StoreClock) -> AsyncIterator[RunStore]:
    opened = await open_sqlite_store(tmp_path / "run", clock=clock)
    await opened.open_run(fingerprint=FINGERPRINT, settings=SETTINGS)
    yield opened
    await opened.close()


async def test_a_claim_leaves_other_workers_blocks_and_gives_up_blocks_finished_meanwhile(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 4)
    assert await store.claim(LeaseKind.BLOCK, [blocks[1].id], worker="agent", seconds=60)
    await store.record_results([make_result(blocks[2])])
    leases = BlockLeases(store, worker="run-a", seconds=60)

    claimed = await leases.claim(blocks)

    assert claimed.leased == (blocks[0], blocks[3])
    assert claimed.held_elsewhere == (blocks[1],)
    assert claimed.done_elsewhere == (blocks[2],)
    held = {lease.key: lease.worker for lease in await store.leases(LeaseKind.BLOCK)}
    assert held == {blocks[0].id: "run-a", blocks[1].id: "agent", blocks[3].id: "run-a"}
    # Claiming again what it holds keeps it, with the same lease.
    before = dict(leases.held)
    assert (await leases.claim([blocks[0]])).leased == (blocks[0],)
    assert dict(leases.held) == before


class ReleasingWhileRenewing:
    """A store whose first renewal finds the block given up and taken again meanwhile, as
    when a pack ends and the next round leases the block while the renewals run."""

    def __init__(self, inner: RunStore, leases: BlockLeases) -> None:
        self._inner = inner
        self.leases = leases
        self.raced = False

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    async def renew(self, lease: Lease, *, seconds: float) -> Lease | None:
        if not self.raced:
            self.raced = True
            (block,) = [b for b in await self._inner.blocks() if b.id == lease.key]
            await self.leases.release([block])
            await self.leases.claim([block])
        return await self._inner.renew(lease, seconds=seconds)


async def test_a_renewal_never_drops_a_lease_given_up_and_taken_again_meanwhile(
    store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    blocks = await put_numbered_blocks(store, 2)
    racing = ReleasingWhileRenewing(store, BlockLeases(store, worker="run-a", seconds=60))
    leases = BlockLeases(racing, worker="run-a", seconds=60)  # type: ignore[arg-type]
    racing.leases = leases
    await leases.claim(blocks)
    first = leases.held[blocks[0].id]

    with caplog.at_level(logging.WARNING):
        await leases.renew_all()

    assert racing.raced
    again = leases.held[blocks[0].id]
    assert again.id != first.id
    live = {lease.key: lease.id for lease in await store.leases(LeaseKind.BLOCK)}
    assert live == {block.id: leases.held[block.id].id for block in blocks}
    assert "lost" not in caplog.text


async def test_a_lease_another_worker_took_over_is_dropped_with_a_warning(
    store: RunStore, clock: StoreClock, caplog: pytest.LogCaptureFixture
) -> None:
    (block,) = await put_numbered_blocks(store, 1)
    leases = BlockLeases(store, worker="run-a", seconds=60)
    await leases.claim([block])
    clock.now += 61  # this worker stalled past its lease
    assert await store.claim(LeaseKind.BLOCK, [block.id], worker="agent", seconds=60)

    with caplog.at_level(logging.WARNING):
        await leases.renew_all()

    assert dict(leases.held) == {}
    assert f"the lease on block {block.id} was lost" in caplog.text
    await leases.release_all()
    assert [lease.worker for lease in await store.leases(LeaseKind.BLOCK)] == ["agent"]
