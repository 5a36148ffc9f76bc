"""Controlled time for the executors: waiting moves the clock instead of taking wall time."""

from __future__ import annotations

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


class StoreClock:
    """A store's clock (Unix seconds, as ``open_sqlite_store(clock=...)`` reads it), moved by
    hand: leases expire when a test says."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now
