"""Where the time of a distributed run goes, for bench/workers.py: each worker process's
start-up, the jobs' own overhead around their calls, the steady state while every worker
sends, the tail once the queue is empty, and the CPU each kind of process used.

Sources: the stored calls (start and end of every request), Procrastinate's job events
(when each pack job started and ended, on the database's clock: the same machine here),
each worker's `--verbose` lines as they arrive (its first request), and the kernel's CPU
accounting (`/proc/<pid>/stat`; the workers' from `os.wait4`).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psycopg

from blockpass.store import CallRecord

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(slots=True)
class WorkerClock:
    """When a worker process was started, and when it sent its first request (read from
    its `--verbose` lines on a thread of their own)."""

    started: float
    first_request: float | None = None
    # Each line with when it arrived.
    lines: list[tuple[float, str]] = field(default_factory=list)

    def follow(self, stream: IO[str]) -> threading.Thread:
        def read() -> None:
            for line in stream:
                if self.first_request is None and "sending a request" in line:
                    self.first_request = time.time()
                self.lines.append((time.time(), line))

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        return thread


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """A live process's CPU time; with ``children``, also its children's that it reaped (a
    PostgreSQL server's ended backends)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command: state is field 3, utime 14, stime 15, cutime 16, cstime 17.
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / TICKS


def postgres_pid(dsn: str) -> int:
    """The PostgreSQL server's own process: the parent of a backend."""
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # Read while the connection holds the backend: it ends with the connection.
        stat = Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[1])


def job_spans(dsn: str) -> dict[str, tuple[float, float]]:
    """Each pack job's (started, ended) as Unix times, by pack id (its last attempt)."""
    with psycopg.connect(dsn) as connection:
        rows = connection.execute(
            "SELECT j.args->>'pack', max(e.at) FILTER (WHERE e.type = 'started'),"
            " max(e.at) FILTER (WHERE e.type IN ('succeeded', 'failed'))"
            " FROM procrastinate_jobs j JOIN procrastinate_events e ON e.job_id = j.id"
            " WHERE j.task_name = 'blockpass.send_pack' GROUP BY j.id"
        ).fetchall()
    return {
        pack: (started.timestamp(), ended.timestamp())
        for pack, started, ended in rows
        if started is not None and ended is not None
    }


@dataclass(frozen=True, slots=True)
class Timeline:
    calls: int
    slots: int
    # From the first request's start to the last answer.
    sending: float
    # From the first worker's first request to the last worker's: slots not all open.
    start_spread: float
    # From starting a worker process to its first request, the slowest of them.
    start_up: float
    # The last worker's first request to the last job's start: every slot could be busy.
    steady: float
    steady_calls: int
    # The last job's start to the last answer: fewer jobs than slots.
    tail: float
    # Per job, medians: its start to its request's start, its answer to its end.
    before_call: float
    after_call: float
    # Calls in flight, on average over the sending time, against the slots.
    busy: float
    # In the steady state, against the slots: the share holding a job, and the share with
    # a call in flight (the rest of a job's time is its own work around the call; the rest
    # of a slot's, finishing one job and fetching the next).
    steady_jobs: float
    steady_calls_in_flight: float

    @property
    def steady_rate(self) -> float:
        return self.steady_calls / self.steady if self.steady > 0 else 0.0


def timeline(
    calls: Sequence[CallRecord],
    jobs: dict[str, tuple[float, float]],
    clocks: Sequence[WorkerClock],
    slots: int,
) -> Timeline:
    first = min(call.started_at for call in calls)
    last = max(call.finished_at for call in calls)
    firsts = [clock.first_request for clock in clocks if clock.first_request is not None]
    all_open = max(firsts) if firsts else first
    last_job = max(started for started, _ in jobs.values()) if jobs else last
    steady_calls = sum(1 for call in calls if all_open <= call.finished_at <= last_job)
    befores, afters = [], []
    for call in calls:
        span = jobs.get(call.pack_id)
        if span is not None:
            befores.append(call.started_at - span[0])
            afters.append(span[1] - call.finished_at)
    in_flight = sum(call.finished_at - call.started_at for call in calls)
    window = max(0.0, last_job - all_open)

    def covered(spans: Sequence[tuple[float, float]]) -> float:
        inside = sum(max(0.0, min(end, last_job) - max(start, all_open)) for start, end in spans)
        return inside / (window * slots) if window > 0 else 0.0

    return Timeline(
        calls=len(calls),
        slots=slots,
        sending=last - first,
        start_spread=(max(firsts) - min(firsts)) if firsts else 0.0,
        start_up=max(
            (clock.first_request - clock.started for clock in clocks if clock.first_request),
            default=0.0,
        ),
        steady=window,
        steady_calls=steady_calls,
        tail=last - last_job,
        before_call=statistics.median(befores) if befores else 0.0,
        after_call=statistics.median(afters) if afters else 0.0,
        busy=in_flight / (last - first) / slots,
        steady_jobs=covered(list(jobs.values())),
        steady_calls_in_flight=covered([(call.started_at, call.finished_at) for call in calls]),
    )
