"""Time as the executors see it: now, and waiting.

Deadlines, batch polling, backoff and rate-limit waits all read and wait on one clock that
the executors take as an argument, so a test can run them on controlled time (where a wait
moves the clock instead of taking wall time) and a deadline does not depend on how busy
the machine is.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
