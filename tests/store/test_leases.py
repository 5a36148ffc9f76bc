"""Leases: how workers sharing one run's store divide its packs and batches between them.

Two store objects on the same run are two workers (on SQLite: two connections to one file,
as two processes would have). Lease time is a manual clock, moved by hand.
"""

from __future__ import annotations

import sys

import anyio
import pytest

from blockpass.sandbox.clock import ManualClock
from blockpass.store import Lease, LeaseKind, RunStore
from tests.store.conftest import StoreFactory

pytestmark = pytest.mark.anyio
PACKS = [f"p-{number:02}" for number in range(40)]
LEASE_SECONDS = 30.0


async def two_workers(stores: StoreFactory, clock: ManualClock) -> tuple[RunStore, RunStore]:
    return await stores.open(clock=clock.now), await stores.open(clock=clock.now)


async def test_two_workers_on_one_run_never_hold_the_same_pack(stores: StoreFactory) -> None:
    clock = ManualClock()
    workers = await two_workers(stores, clock)
    claimed: list[Lease] = []

    async def take_packs(store: RunStore, worker: str) -> None:
        while lease := await store.claim(
            LeaseKind.PACK, PACKS, worker=worker, seconds=LEASE_SECONDS
        ):
            claimed.append(lease)

    async with anyio.create_task_group() as group:
        for number, store in enumerate(workers):
            for task in range(4):
                group.start_soon(take_packs, store, f"worker-{number}/{task}")

    # Every pack once, whichever worker got it: how the claims interleave is the scheduler's
    # (one worker taking all forty is a valid outcome, seen in CI).
    assert sorted(lease.key for lease in claimed) == PACKS
    assert len({lease.id for lease in claimed}) == len(PACKS)


async def test_a_held_pack_is_passed_over_for_the_next_free_one(stores: StoreFactory) -> None:
    first, second = await two_workers(stores, ManualClock())

    held = await first.claim(LeaseKind.PACK, PACKS[:2], worker="a", seconds=LEASE_SECONDS)
    again = await first.claim(LeaseKind.PACK, PACKS[:2], worker="a", seconds=LEASE_SECONDS)
    other = await second.claim(LeaseKind.PACK, PACKS[:2], worker="b", seconds=LEASE_SECONDS)

    assert held is not None
    assert again is not None
    assert (held.key, again.key) == (PACKS[0], PACKS[1])
    assert other is None


async def test_an_expired_lease_is_taken_over_by_another_worker(stores: StoreFactory) -> None:
    clock = ManualClock()
    first, second = await two_workers(stores, clock)
    lost = await first.claim(LeaseKind.PACK, PACKS[:1], worker="a", seconds=LEASE_SECONDS)
    assert lost is not None

    clock.advance(LEASE_SECONDS - 1)
    assert await second.claim(LeaseKind.PACK, PACKS[:1], worker="b", seconds=LEASE_SECONDS) is None
    clock.advance(1)
    taken = await second.claim(LeaseKind.PACK, PACKS[:1], worker="b", seconds=LEASE_SECONDS)

    assert taken is not None
    assert (taken.key, taken.worker) == (PACKS[0], "b")
    assert taken.expires_at == clock.now() + LEASE_SECONDS
    assert taken.id != lost.id
    assert await first.renew(lost, seconds=LEASE_SECONDS) is None
    await first.release(lost)
    assert await second.leases(LeaseKind.PACK) == [taken]


async def test_a_renewed_lease_outlives_its_first_term(stores: StoreFactory) -> None:
    clock = ManualClock()
    first, second = await two_workers(stores, clock)
    lease = await first.claim(LeaseKind.PACK, PACKS[:1], worker="a", seconds=LEASE_SECONDS)
    assert lease is not None

    clock.advance(LEASE_SECONDS - 1)
    renewed = await first.renew(lease, seconds=LEASE_SECONDS)
    clock.advance(LEASE_SECONDS - 1)

    assert renewed == Lease(
        id=lease.id, kind=LeaseKind.PACK, key=PACKS[0], worker="a",
        expires_at=lease.expires_at + LEASE_SECONDS - 1,
    )  # fmt: skip
    assert await second.claim(LeaseKind.PACK, PACKS[:1], worker="b", seconds=LEASE_SECONDS) is None


async def test_a_lease_nobody_took_over_can_still_be_renewed_after_it_expired(
    stores: StoreFactory,
) -> None:
    clock = ManualClock()
    (store, _) = await two_workers(stores, clock)
    lease = await store.claim(LeaseKind.PACK, PACKS[:1], worker="a", seconds=LEASE_SECONDS)
    assert lease is not None
    clock.advance(LEASE_SECONDS * 2)
    assert await store.leases(LeaseKind.PACK) == []

    renewed = await store.renew(lease, seconds=LEASE_SECONDS)

    assert renewed is not None
    assert await store.leases(LeaseKind.PACK) == [renewed]


async def test_a_released_pack_is_free_again(stores: StoreFactory) -> None:
    first, second = await two_workers(stores, ManualClock())
    lease = await first.claim(LeaseKind.PACK, PACKS[:1], worker="a", seconds=LEASE_SECONDS)
    assert lease is not None

    await first.release(lease)
    taken = await second.claim(LeaseKind.PACK, PACKS[:1], worker="b", seconds=LEASE_SECONDS)

    assert taken is not None
    assert taken.worker == "b"
    assert await first.renew(lease, seconds=LEASE_SECONDS) is None


async def test_packs_and_batches_are_leased_apart(stores: StoreFactory) -> None:
    clock = ManualClock()
    store, _ = await two_workers(stores, clock)
    pack = await store.claim(LeaseKind.PACK, ["same"], worker="a", seconds=LEASE_SECONDS)
    batch = await store.claim(LeaseKind.BATCH, ["same"], worker="b", seconds=LEASE_SECONDS)

    assert pack is not None
    assert batch is not None
    assert await store.leases(LeaseKind.PACK) == [pack]
    assert await store.leases(LeaseKind.BATCH) == [batch]


async def test_leases_outlive_the_store_object_that_took_them(stores: StoreFactory) -> None:
    clock = ManualClock()
    first = await stores.open(clock=clock.now)
    lease = await first.claim(LeaseKind.BATCH, ["submission-1"], worker="a", seconds=60)
    await first.close()

    reopened = await stores.open(clock=clock.now)

    assert await reopened.leases(LeaseKind.BATCH) == [lease]
    assert await reopened.claim(LeaseKind.BATCH, ["submission-1"], worker="b", seconds=60) is None


# A child process claiming packs until none is left, printing each key it got.
CLAIMER = """
import sys

import anyio
from blockpass.store import LeaseKind
{opener}
async def main():
    store = await open_store()
    keys = [f"p-{{number:03}}" for number in range({count})]
    while lease := await store.claim(LeaseKind.PACK, keys, worker={worker!r}, seconds=600):
        print(lease.key, flush=True)
    await store.close()
anyio.run(main)
"""


async def test_workers_in_separate_processes_claim_every_pack_exactly_once(
    stores: StoreFactory,
) -> None:
    count = 120
    await (await stores.open()).close()  # the run exists before the workers race
    outputs: list[str] = []

    async def worker(name: str) -> None:
        source = CLAIMER.format(opener=stores.child_opener(), count=count, worker=name)
        done = await anyio.run_process([sys.executable, "-c", source], check=True)
        outputs.append(done.stdout.decode())

    with anyio.fail_after(120):
        async with anyio.create_task_group() as group:
            for number in range(3):
                group.start_soon(worker, f"process-{number}")

    claimed = [key for output in outputs for key in output.split()]
    assert sorted(claimed) == [f"p-{number:03}" for number in range(count)]


BLOCKS = [f"b-{number:02}" for number in range(30)]


async def test_workers_claiming_overlapping_blocks_at_once_never_both_hold_one(
    stores: StoreFactory,
) -> None:
    workers = await two_workers(stores, ManualClock())
    claimed: list[Lease] = []

    async def take_blocks(store: RunStore, worker: str, keys: list[str]) -> None:
        claimed.extend(
            await store.claim_each(LeaseKind.BLOCK, keys, worker=worker, seconds=LEASE_SECONDS)
        )

    # Overlapping windows, in opposite orders, from both connections at once: no deadlock,
    # and every block leased once.
    async with anyio.create_task_group() as group:
        for number, store in enumerate(workers):
            for task in range(3):
                start = task * 10
                keys = BLOCKS[start : start + 15]
                group.start_soon(
                    take_blocks, store, f"worker-{number}/{task}", keys[::-1] if number else keys
                )

    assert sorted(lease.key for lease in claimed) == BLOCKS
    assert len({lease.id for lease in claimed}) == len(BLOCKS)


async def test_claiming_blocks_leaves_out_the_held_ones_and_takes_over_the_expired(
    stores: StoreFactory,
) -> None:
    clock = ManualClock()
    first, second = await two_workers(stores, clock)
    old = await first.claim_each(LeaseKind.BLOCK, BLOCKS[:2], worker="a", seconds=1.0)
    live = await first.claim_each(LeaseKind.BLOCK, BLOCKS[2:4], worker="a", seconds=60.0)
    clock.advance(2.0)

    taken = await second.claim_each(
        LeaseKind.BLOCK, [*BLOCKS[:5], BLOCKS[0]], worker="b", seconds=LEASE_SECONDS
    )

    assert [lease.key for lease in taken] == [BLOCKS[0], BLOCKS[1], BLOCKS[4]]
    assert {lease.id for lease in taken}.isdisjoint(lease.id for lease in old)
    for lease in old:
        assert await first.renew(lease, seconds=60.0) is None, "taken over"
    await first.release_each(live)
    again = await second.claim_each(LeaseKind.BLOCK, BLOCKS[2:4], worker="b", seconds=LEASE_SECONDS)
    assert [lease.key for lease in again] == BLOCKS[2:4]
    await second.release_each([*taken, *old])
    assert [lease.key for lease in await first.leases(LeaseKind.BLOCK)] == BLOCKS[2:4], (
        "a lease taken over is not given up by its old holder's release"
    )
