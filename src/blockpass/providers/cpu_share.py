"""How many threads llama.cpp gets for the next call, on a CPU other processes may share.

ggml's threads meet at a barrier after every operation of the graph, and a thread that
arrives first spins instead of sleeping. When another process keeps a core busy, one of two
threads is often descheduled and the other spins through its time slice at every barrier.
Measured on this project's 2-core machine with other CPU-bound work running, one prompt of
1,303 tokens plus 120 generated tokens took 29 s with one thread, 62 s with one thread for
generation and two for the prompt, and 129 s with two for both; on an idle machine two
threads are the faster choice.

So before each call the provider asks ``CpuShare.threads()``: how much CPU the rest of the
machine used since the previous call (all CPU time in ``/proc/stat`` less this process's
own), and it gives llama.cpp the cores nobody else is using, at least one. A core counts as
taken when others kept it at least 40% busy on average. Where ``/proc/stat`` cannot be read
(not Linux), every core is used, as before this policy.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["CpuShare", "machine_busy_seconds"]

_PROC_STAT = Path("/proc/stat")
# A shorter look is mostly noise: the previous answer stands.
_MIN_INTERVAL = 0.25
# Others' average use of a core, from which on it is theirs.
_TAKEN = 0.4


def machine_busy_seconds() -> float | None:
    """CPU seconds every core of the machine has spent not idle since boot."""
    try:
        first = _PROC_STAT.read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    ticks = [int(value) for value in first[1:]]
    # user nice system idle iowait irq softirq steal (guest time is inside user already)
    idle = sum(ticks[3:5])
    busy = sum(ticks[:8]) - idle
    return busy / os.sysconf("SC_CLK_TCK")


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class CpuShare:
    def __init__(
        self,
        *,
        cores: int | None = None,
        machine_busy: Callable[[], float | None] = machine_busy_seconds,
        own_busy: Callable[[], float] = time.process_time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cores = cores or _cores()
        self._machine_busy = machine_busy
        self._own_busy = own_busy
        self._clock = clock
        self._last = self._sample()
        self._threads = self.cores

    def _sample(self) -> tuple[float | None, float, float]:
        return self._machine_busy(), self._own_busy(), self._clock()

    def threads(self) -> int:
        """The threads for the next call: the cores others left free since the last call."""
        now = self._sample()
        (machine_then, own_then, then), (machine_now, own_now, wall) = self._last, now
        if machine_then is None or machine_now is None:
            return self.cores
        if wall - then < _MIN_INTERVAL:
            return self._threads
        others = max(0.0, (machine_now - machine_then) - (own_now - own_then)) / (wall - then)
        taken = math.floor(others + (1 - _TAKEN))
        self._last = now
        self._threads = max(1, self.cores - taken)
        return self._threads
