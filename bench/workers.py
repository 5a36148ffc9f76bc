"""Distributed runs: `blockpass submit` and `blockpass worker` processes on one PostgreSQL
server, against a served sandbox (`blockpass sandbox`, the Google Vale package's rules).

    python bench/workers.py [--runs 3] [--skip kill,latency,limit]

Three parts, each on a database of its own (PostgreSQL started here from Debian's binaries,
as the tests start it):

- kill: the whole rust-book with the 18F guide, 4 workers, a sandbox limited to --rpm
  requests a minute with --latency seconds per answer; worker 1 is SIGKILLed once a third of
  the packs are answered. Every block must end once, none be paid twice (the sandbox's
  request counter equals the stored calls plus the calls lost with the killed worker), and
  the job must finish.
- latency: the first chapters, 1, 2 and 4 workers (2 packs in flight each) against a
  sandbox whose answers take 1 s and which has no limits: one worker is the bottleneck, so
  throughput should grow near-linearly. Medians of --runs runs. Beside calls per second over
  the whole sending time, it prints where the time went (`worker_timeline.py`): the steady
  rate (every worker sending, jobs still waiting), which is what more workers can raise;
  the tail (fewer jobs left than slots: at 1 s a call, up to a second whatever the order);
  the account's first request, which goes alone to learn the limits (inside the sending
  time); each worker's start-up; each job's own time before and after its call; and the
  CPU seconds of the workers, the sandbox and PostgreSQL, which share the machine's cores.
- limit: the first chapters in small packs, 1, 2 and 4 workers (4 packs in flight each)
  against a sandbox limited to 60 requests a minute (its bucket starts full: 60 at once,
  then 1 a second): the workers together should use nearly all of what the limit allows
  and never be refused (429). Medians of --runs runs.

Sending time is from the first stored call's start to the last one's end; wall time
includes starting the worker processes (3 to 4 CPU seconds each, mostly imports: 4 started
at once on 2 busy cores take tens of seconds to send their first request).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2

from benchkit import DATA, GOOGLE, free_port, start_sandbox
from blockpass.sandbox import DEFAULT_API_KEY
from blockpass.store import CallRecord, RunHold, open_store_at
from worker_timeline import (
    Timeline,
    WorkerClock,
    cpu_seconds,
    job_spans,
    postgres_pid,
    timeline,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.postgres_server import PostgresServer, running_postgres

MODEL = "claude-sonnet-4-5"
GUIDE = DATA / "guides" / "18f-content-guide"
BOOK = DATA / "corpora" / "rust-book"
STALLED_AFTER = 10.0
# The latency part's seconds per answer.
LATENCY = 1.0


@dataclass(frozen=True, slots=True)
class Sent:
    blocks: int
    ended: int
    calls: list[CallRecord]
    open_starts: int
    requests: int
    refused: int
    wall: float
    timeline: Timeline
    # CPU seconds while the workers ran: all workers, the sandbox, the PostgreSQL server.
    cpu: dict[str, float]

    @property
    def sending_seconds(self) -> float:
        return max(call.finished_at for call in self.calls) - min(
            call.started_at for call in self.calls
        )

    @property
    def sent_twice(self) -> int:
        counts = Counter(b for call in self.calls if call.status == "ok" for b in call.block_ids)
        return sum(1 for count in counts.values() if count > 1)


def blockpass(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "blockpass.cli", *arguments]


def submit(dsn: str, inputs: list[Path], *options: str) -> None:
    command = blockpass(
        "submit", *map(str, inputs), "--guide", str(GUIDE), "--provider", "sandbox",
        "--model", MODEL, "--store", dsn, "--run", "bench", *options,
    )  # fmt: skip
    subprocess.run(command, check=True, capture_output=True, timeout=600)


def start_workers(
    dsn: str, base_url: str, count: int, concurrency: int
) -> tuple[list[subprocess.Popen[str]], list[WorkerClock]]:
    """The workers, each with its `--verbose` lines followed for its first request."""
    options = [
        "--store", dsn, "--base-url", base_url, "--exit-when-done", "--verbose",
        "--concurrency", str(concurrency), "--stalled-after", str(STALLED_AFTER),
    ]  # fmt: skip
    running, clocks = [], []
    for number in range(1, count + 1):
        clock = WorkerClock(started=time.time())
        worker = subprocess.Popen(
            blockpass("worker", *options, "--name", f"w{number}"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert worker.stderr is not None
        clock.follow(worker.stderr)
        running.append(worker)
        clocks.append(clock)
    return running, clocks


def wait_for_cpu(worker: subprocess.Popen[str]) -> float:
    """Wait for the worker to end; the CPU seconds it used."""
    _, status, usage = os.wait4(worker.pid, 0)
    worker.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def sandbox_stats(base_url: str) -> dict[str, int]:
    stats = httpx2.get(f"{base_url}/_sandbox/stats", timeout=10).json()
    requests: dict[str, int] = stats["requests"]
    return requests


async def read_run(dsn: str) -> tuple[int, int, list[CallRecord], int]:
    async with open_store_at(dsn, run="bench", hold=RunHold.NONE) as store:
        blocks = await store.blocks()
        results = await store.results()
        calls = await store.calls()
        starts = await store.call_starts(open_only=True)
    return len(blocks), len(results), calls, len(starts)


@contextmanager
def sandbox(*options: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    process = start_sandbox(port, DEFAULT_API_KEY, *options)
    try:
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def run_job(
    server: PostgresServer,
    inputs: list[Path],
    submit_options: list[str],
    sandbox_options: list[str],
    *,
    workers: int,
    concurrency: int,
    kill_after: int | None = None,
) -> Sent:
    """Submit, start the workers, (kill worker 1 after ``kill_after`` answered requests),
    wait for the rest to finish the job."""
    dsn = server.new_database()
    submit(dsn, inputs, *submit_options)
    database = postgres_pid(dsn)
    with sandbox(*sandbox_options) as (base_url, sandbox_pid):
        cpu_before = cpu_seconds(sandbox_pid), cpu_seconds(database, children=True)
        started = time.monotonic()
        running, clocks = start_workers(dsn, base_url, workers, concurrency)
        if kill_after is not None:
            deadline = time.monotonic() + 600
            while sandbox_stats(base_url).get("POST /v1/messages", 0) < kill_after:
                if time.monotonic() > deadline:
                    raise SystemExit("the workers sent nothing for 10 minutes")
                time.sleep(0.2)
            running[0].send_signal(signal.SIGKILL)
        workers_cpu = sum(wait_for_cpu(worker) for worker in running)
        wall = time.monotonic() - started
        cpu = {
            "workers": workers_cpu,
            "sandbox": cpu_seconds(sandbox_pid) - cpu_before[0],
            "postgresql": cpu_seconds(database, children=True) - cpu_before[1],
        }
        stats = sandbox_stats(base_url)
    blocks, ended, calls, open_starts = anyio.run(read_run, dsn)
    return Sent(
        blocks=blocks,
        ended=ended,
        calls=calls,
        open_starts=open_starts,
        requests=stats.get("POST /v1/messages", 0),
        refused=stats.get("status 429", 0),
        wall=wall,
        timeline=timeline(calls, job_spans(dsn), clocks, workers * concurrency),
        cpu=cpu,
    )


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (2 cores)"


def kill_part(server: PostgresServer, rpm: int, latency: float) -> None:
    chapters = sorted(BOOK.glob("*.md"))
    print(f"kill: rust-book ({len(chapters)} chapters) + 18F guide, 4 workers x 4 packs,")
    print(f"      sandbox --rpm {rpm} --latency {latency}; worker 1 SIGKILLed; {load()}")
    sent = run_job(
        server, [BOOK], [], ["--rpm", str(rpm), "--latency", str(latency)],
        workers=4, concurrency=4, kill_after=30,
    )  # fmt: skip
    print(
        f"  blocks {sent.blocks:,}, ended {sent.ended:,}; calls stored {len(sent.calls):,},"
        f" lost with the killed worker {sent.open_starts}; sandbox requests {sent.requests:,}"
        f" (stored + lost: {len(sent.calls) + sent.open_starts:,}); blocks in two paid calls"
        f" {sent.sent_twice}; 429s {sent.refused}; wall {sent.wall:.1f} s"
    )
    whole = sent.ended == sent.blocks and sent.requests == len(sent.calls) + sent.open_starts
    print(f"  every block once, none paid twice, job finished: {whole and not sent.sent_twice}")


def latency_part(server: PostgresServer, runs: int, chapters: list[Path]) -> None:
    print(f"latency: {len(chapters)} chapters, sandbox --latency 1 (no limits), 2 packs in")
    print(f"         flight per worker, medians of {runs} runs; {load()}")
    print("  sending: first request to last answer (worker start-up left out); steady: from")
    print("  the last worker's first request to the last job's start, every slot able to")
    print("  send; tail: from there to the last answer (fewer jobs left than slots); before /")
    print("  after: a job's start to its request, its answer to the job's end (medians); busy:")
    print("  calls in flight over the sending time against the slots; steady slots holding a")
    print("  job / with a call in flight: the rest is finishing a job and fetching the next /")
    print("  a job's own work around its call; CPU: seconds used by all workers, the sandbox")
    print("  and PostgreSQL while the workers ran (2 cores shared).")
    base = steady_base = None
    for workers in (1, 2, 4):
        results = [
            run_job(
                server,
                chapters,
                ["--max-blocks", "20"],
                ["--latency", str(LATENCY)],
                workers=workers,
                concurrency=2,
            )
            for _ in range(runs)
        ]
        lines = [sent.timeline for sent in results]

        def median(figure: Callable[[Timeline], float], lines: list[Timeline] = lines) -> float:
            return statistics.median(figure(line) for line in lines)

        seconds = median(lambda line: line.sending)
        calls = len(results[0].calls)
        rate = calls / seconds
        steady = median(lambda line: line.steady_rate)
        base = base or rate
        steady_base = steady_base or steady
        print(
            f"  {workers} worker(s): {calls} calls in {seconds:.1f} s sending"
            f" ({statistics.median(sent.wall for sent in results):.1f} s wall): {rate:.2f}"
            f" calls/s, {rate / base:.2f}x one worker; steady {steady:.2f} calls/s,"
            f" {steady / steady_base:.2f}x, {steady * LATENCY / (2 * workers):.0%} of what"
            f" {2 * workers} slots send at {LATENCY:g} s a call; 429s {sum(sent.refused for sent in results)}"
        )
        cpu = {
            name: statistics.median(sent.cpu[name] for sent in results) for name in results[0].cpu
        }
        print(
            f"    start-up to first request {median(lambda line: line.start_up):.1f} s"
            f" (first requests {median(lambda line: line.start_spread):.1f} s apart);"
            f" steady {median(lambda line: line.steady):.1f} s; tail"
            f" {median(lambda line: line.tail):.1f} s; before / after a call"
            f" {median(lambda line: line.before_call):.2f} / {median(lambda line: line.after_call):.2f} s;"
            f" busy {median(lambda line: line.busy):.0%}; steady slots holding a job"
            f" {median(lambda line: line.steady_jobs):.0%}, with a call in flight"
            f" {median(lambda line: line.steady_calls_in_flight):.0%}; CPU s "
            + ", ".join(f"{name} {used:.1f}" for name, used in cpu.items())
            + f"; {load()}",
            flush=True,
        )
    print(f"  {load()}")


def limit_part(server: PostgresServer, runs: int, chapters: list[Path]) -> None:
    rpm = 60
    print(f"limit: {len(chapters)} chapters in packs of at most 4 blocks, sandbox --rpm {rpm}")
    print(f"       --latency 0.2, 4 packs in flight per worker, medians of {runs} runs; {load()}")
    for workers in (1, 2, 4):
        used, refused = [], []
        for _ in range(runs):
            sent = run_job(
                server, chapters, ["--max-blocks", "4", "--min-blocks", "1"],
                ["--rpm", str(rpm), "--latency", "0.2"], workers=workers, concurrency=4,
            )  # fmt: skip
            # Answers came back over ``span`` seconds: a bucket of ``rpm`` that starts full
            # lets through at most rpm + span * rpm / 60 requests in that time.
            ends = sorted(call.finished_at for call in sent.calls)
            span = ends[-1] - ends[0]
            allowed = rpm + span * rpm / 60
            used.append(sent.requests / allowed)
            refused.append(sent.refused)
            print(
                f"  {workers} worker(s): {sent.requests} requests in {span:.1f} s, the limit"
                f" allowing {allowed:.0f} ({sent.requests / allowed:.0%} used); 429s"
                f" {sent.refused}; every block ended: {sent.ended == sent.blocks}; {load()}",
                flush=True,
            )
        print(
            f"  {workers} worker(s), median: {statistics.median(used):.0%} of the limit used,"
            f" 429s {statistics.median(refused):.0f} (all runs: {refused})",
            flush=True,
        )
    print(f"  {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip", default="", help="parts to leave out: kill,latency,limit")
    parser.add_argument("--chapters", type=int, default=30, help="for the latency part")
    parser.add_argument("--limit-chapters", type=int, default=12, help="for the limit part")
    parser.add_argument("--rpm", type=int, default=60, help="the kill part's sandbox limit")
    parser.add_argument("--latency", type=float, default=1.0, help="the kill part's latency")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    chapters = sorted(BOOK.glob("*.md"))[: args.chapters]
    print(f"bench/workers.py: sandbox rules {GOOGLE.name}, model {MODEL}")
    with running_postgres() as server:
        if "kill" not in skip:
            kill_part(server, args.rpm, args.latency)
        if "latency" not in skip:
            latency_part(server, args.runs, chapters)
        if "limit" not in skip:
            limit_part(server, args.runs, sorted(BOOK.glob("*.md"))[: args.limit_chapters])


if __name__ == "__main__":
    main()
