"""Blocks leased while they are worked on, so that a run and outside agents on the same run
(``blockpass mcp serve``: ``mcp_bridge/run_desk.py``) never do one block twice.

A worker leases a block (``LeaseKind.BLOCK``, keyed by the block id) before it sends it, or
before it hands it to an agent, and gives the lease up once the block's result is stored or
the block goes back to the run. A block leased by someone else is left alone until its lease
ends: given up (its result stored, or not) or expired (its holder died).

Order matters on both sides: a holder stores its results before it gives the leases up, and
a claimer reads the results after it got the leases; so a block whose lease was just given
up is seen as done, never done again.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.store import Lease, LeaseKind, RunStore

__all__ = ["BlockLeases", "Claimed", "drop_dead_runs_leases", "run_worker", "still_to_do"]

_log = logging.getLogger(__name__)
RUN_WORKER_PREFIX = "run-"


def run_worker() -> str:
    """A new name for a run's executor as a lease holder."""
    return f"{RUN_WORKER_PREFIX}{secrets.token_hex(8)}"


async def drop_dead_runs_leases(store: RunStore) -> int:
    """Give up the block leases of earlier runs, for a run that holds its run alone
    (``RunHold.SOLE``): no other run can be working on it, so those are the leases of a run
    that was killed before it gave them up, which would keep its blocks waiting until they
    expire. Agents' leases stay. How many were dropped."""
    dead = [
        lease
        for lease in await store.leases(LeaseKind.BLOCK)
        if lease.worker.startswith(RUN_WORKER_PREFIX)
    ]
    for lease in dead:
        await store.release(lease)
    return len(dead)


def still_to_do(block: Block, results: Mapping[str, BlockResult]) -> bool:
    """A block without a result, with a failure, or with a result for other text."""
    result = results.get(block.id)
    return (
        result is None
        or result.outcome is Outcome.FAILED
        or result.content_hash != block.content_hash
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimed:
    """What a claim found, the blocks in the order given."""

    leased: tuple[Block, ...]  # this worker holds them now, and they are still to do
    held_elsewhere: tuple[Block, ...]
    done_elsewhere: tuple[Block, ...]  # someone stored their result meanwhile


class BlockLeases:
    """The block leases of one worker: ``seconds`` long, kept alive while it works
    (``keep_alive``), given up as its blocks are done."""

    def __init__(
        self, store: RunStore, *, worker: str, seconds: float, poll_seconds: float = 5.0
    ) -> None:
        self.worker = worker
        self._store = store
        self._seconds = seconds
        self._poll_seconds = poll_seconds
        self._held: dict[str, Lease] = {}

    @property
    def held(self) -> Mapping[str, Lease]:
        return self._held

    async def held_elsewhere(self, blocks: Iterable[Block]) -> list[Block]:
        """The blocks that a live lease of another worker holds."""
        others = {
            lease.key
            for lease in await self._store.leases(LeaseKind.BLOCK)
            if lease.worker != self.worker
        }
        return [block for block in blocks if block.id in others]

    async def claim(self, blocks: Sequence[Block]) -> Claimed:
        """Lease every block nobody holds (those this worker holds already stay leased)."""
        # One claim for the pack's blocks: a round trip per block would cost more than the
        # call itself on a loaded database.
        wanted = [block.id for block in blocks if block.id not in self._held]
        taken = (
            await self._store.claim_each(
                LeaseKind.BLOCK, wanted, worker=self.worker, seconds=self._seconds
            )
            if wanted
            else []
        )
        for lease in taken:
            self._held[lease.key] = lease
        leased = [block for block in blocks if block.id in self._held]
        held = [block for block in blocks if block.id not in self._held]
        results = await self._store.results([block.id for block in leased])
        done = [block for block in leased if not still_to_do(block, results)]
        await self.release(done)
        return Claimed(
            leased=tuple(block for block in leased if block.id in self._held),
            held_elsewhere=tuple(held),
            done_elsewhere=tuple(done),
        )

    async def release(self, blocks: Iterable[Block]) -> None:
        given_up = [lease for block in blocks if (lease := self._held.pop(block.id, None))]
        if given_up:
            await self._store.release_each(given_up)

    async def release_all(self) -> None:
        given_up = list(self._held.values())
        self._held.clear()
        if given_up:
            await self._store.release_each(given_up)

    @asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """The leases renewed while the block runs (``keep_alive``), and all given up when it
        ends, however it ends; what it raises comes out as it was raised."""
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self.keep_alive)
                try:
                    yield
                finally:
                    group.cancel_scope.cancel()
                    with anyio.CancelScope(shield=True):
                        await self.release_all()
        except BaseExceptionGroup as failures:
            if len(failures.exceptions) != 1:
                raise
            raise failures.exceptions[0] from None

    async def keep_alive(self) -> None:
        """Renew the leases held, three times a lease, until cancelled."""
        while True:
            await anyio.sleep(self._seconds / 3)
            await self.renew_all()

    async def renew_all(self) -> None:
        """Renew every lease held. A lease given up meanwhile (its pack ended) is left
        alone, as is the one that replaced it; a lease lost (this worker stalled past its
        end and another took the block over) is dropped: its block's result, if this worker
        still stores one, is kept only where the other's is not there first (a result is
        final)."""
        for block_id, lease in list(self._held.items()):
            if self._held.get(block_id) != lease:
                continue
            renewed = await self._store.renew(lease, seconds=self._seconds)
            if self._held.get(block_id) != lease:
                continue
            if renewed is None:
                _log.warning("the lease on block %s was lost: another worker has it", block_id)
                del self._held[block_id]
            else:
                self._held[block_id] = renewed

    async def wait_for(self, blocks: Sequence[Block]) -> tuple[list[Block], int]:
        """Wait until the first of the others' leases on ``blocks`` ends, or for a poll's
        time if that is sooner; then the blocks still to do, and how many were done by
        whoever held them."""
        ends = [
            lease.expires_at
            for lease in await self._store.leases(LeaseKind.BLOCK)
            if lease.worker != self.worker and lease.key in {block.id for block in blocks}
        ]
        if ends:
            # Lease ends are Unix seconds by the store's clock, which is the system's.
            await anyio.sleep(max(0.0, min(min(ends) - time.time(), self._poll_seconds)))
        results = await self._store.results([block.id for block in blocks])
        left = [block for block in blocks if still_to_do(block, results)]
        return left, len(blocks) - len(left)
