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
  throughput should grow near-linearly. Medians of --runs runs.
- limit: the first chapters in small packs, 1, 2 and 4 workers (4 packs in flight each)
  against a sandbox limited to 60 requests a minute (its bucket starts full: 60 at once,
  then 1 a second): the workers together should use nearly all of what the limit allows
  and never be refused (429). Medians of --runs runs.

Sending time is from the first stored call's start to the last one's end; wall time
includes starting the worker processes (about 2 s each on this machine).
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2

from benchkit import DATA, GOOGLE, free_port, start_sandbox
from blockpass.sandbox import DEFAULT_API_KEY
from blockpass.store import CallRecord, RunHold, open_store_at

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.postgres_server import PostgresServer, running_postgres

MODEL = "claude-sonnet-4-5"
GUIDE = DATA / "guides" / "18f-content-guide"
BOOK = DATA / "corpora" / "rust-book"
STALLED_AFTER = 10.0


@dataclass(frozen=True, slots=True)
class Sent:
    blocks: int
    ended: int
    calls: list[CallRecord]
    open_starts: int
    requests: int
    refused: int
    wall: float

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
) -> list[subprocess.Popen[bytes]]:
    options = [
        "--store", dsn, "--base-url", base_url, "--exit-when-done",
        "--concurrency", str(concurrency), "--stalled-after", str(STALLED_AFTER),
    ]  # fmt: skip
    return [
        subprocess.Popen(
            blockpass("worker", *options, "--name", f"w{number}"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for number in range(1, count + 1)
    ]


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
def sandbox(*options: str) -> Iterator[str]:
    port = free_port()
    process = start_sandbox(port, DEFAULT_API_KEY, *options)
    try:
        yield f"http://127.0.0.1:{port}"
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
    with sandbox(*sandbox_options) as base_url:
        started = time.monotonic()
        running = start_workers(dsn, base_url, workers, concurrency)
        if kill_after is not None:
            deadline = time.monotonic() + 600
            while sandbox_stats(base_url).get("POST /v1/messages", 0) < kill_after:
                if time.monotonic() > deadline:
                    raise SystemExit("the workers sent nothing for 10 minutes")
                time.sleep(0.2)
            running[0].send_signal(signal.SIGKILL)
        for worker in running:
            worker.wait(timeout=1800)
        wall = time.monotonic() - started
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
    base = None
    for workers in (1, 2, 4):
        results = [
            run_job(
                server,
                chapters,
                ["--max-blocks", "20"],
                ["--latency", "1"],
                workers=workers,
                concurrency=2,
            )
            for _ in range(runs)
        ]
        seconds = statistics.median(sent.sending_seconds for sent in results)
        wall = statistics.median(sent.wall for sent in results)
        calls = len(results[0].calls)
        rate = calls / seconds
        base = base or rate
        print(
            f"  {workers} worker(s): {calls} calls in {seconds:.1f} s sending ({wall:.1f} s wall):"
            f" {rate:.2f} calls/s, {rate / base:.2f}x one worker; 429s"
            f" {sum(sent.refused for sent in results)}"
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
