"""Controlled time for the executors: waiting moves the clock instead of taking wall time."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import anyio


class SteppedClock:
    """Stands still but for the executor's own waits, which move it at once, and ``advance``.

    A deadline on this clock passes after a set amount of the executor's waiting (its polls
    and backoffs), however slow the machine is.
    """

    def __init__(self, start: float) -> None:
        self._now = start
        self.slept: list[float] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._now += max(0.0, seconds)
        # Still a checkpoint: other tasks run, as they would while a real sleep waits.
        await anyio.lowlevel.checkpoint()


class VirtualClock:
    """Time that passes only when every task waits, jumping to the earliest wake-up.

    Simulated calls that take time and the executor's own waits run side by side as they
    would on the wall clock, in no wall time. ``drive`` moves the clock; run it beside the
    code under test and cancel it when that is done.
    """

    def __init__(self, start: float) -> None:
        self._now = start
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._order = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        wake = anyio.Event()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._order), wake))
        await wake.wait()

    async def drive(self) -> None:
        idle = 0
        while True:
            await _all_other_tasks_blocked()
            if not self._sleepers:
                # A task that has just ended wakes its waiter a few loop turns later; one
                # that never does is a deadlock.
                idle += 1
                if idle > 100:
                    raise RuntimeError("every task waits, and none of them on the clock")
                continue
            idle = 0
            self._now = max(self._now, self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self._now:
                heapq.heappop(self._sleepers)[2].set()


async def _all_other_tasks_blocked() -> None:
    """``anyio.wait_all_tasks_blocked`` without its 0.1 s pauses (tests run on asyncio)."""
    this = asyncio.current_task()
    while True:
        await anyio.lowlevel.checkpoint()
        if all(_waiting(task) for task in asyncio.all_tasks() if task is not this):
            return


def _waiting(task: asyncio.Task[object]) -> bool:
    waiter = task._fut_waiter  # type: ignore[attr-defined]
    return waiter is not None and not waiter.done()


class StoreClock:
    """A store's clock (Unix seconds, as ``open_sqlite_store(clock=...)`` reads it), moved by
    hand: leases expire when a test says."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now
