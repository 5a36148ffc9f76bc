"""The README's main job on the embedded model: how long it takes, alone and beside a CPU hog.

    python bench/local_speed.py [--runs 3] [--threads N]

Runs the README's main-job command (``blockpass run examples/sample.md`` with the bundled
guide and example style, on the local provider) ``--runs`` times on a quiet machine, then
``--runs`` times while one other process keeps a core busy (a Python busy loop), each run in
a fresh run directory so that every call is made. Prints each run's wall time (the whole
command: start-up, model load, calls) and the medians. Targets of issue #11 on the 2-core
machine: under 60 s alone, and at most 3 times that beside the busy process.

``--threads N`` fixes llama.cpp's threads (the default chooses them before each call from
what the rest of the machine uses). "Quiet" means this script starts nothing else: check
with ``uptime`` that nothing else runs, the figures mean little otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAIN_JOB = [
    "run",
    "examples/sample.md",
    "--guide",
    "examples/guide.md",
    "--styles",
    "examples/rules/Example",
    "--min-blocks",
    "1",
    "--max-blocks",
    "4",
    "--provider",
    "local",
]


@contextmanager
def busy_core() -> Iterator[None]:
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


def one_run(extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "blockpass.cli", *MAIN_JOB, "--out", out, *extra],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"the main job failed ({done.returncode}): {done.stderr.strip()}")
    return elapsed


def runs(count: int, extra: list[str], label: str) -> float:
    times = []
    for _ in range(count):
        times.append(one_run(extra))
        print(f"  {label}: {times[-1]:.1f} s", flush=True)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, help="fix llama.cpp's threads")
    args = parser.parse_args()
    extra = ["--threads", str(args.threads)] if args.threads else []
    threads = f"{args.threads} fixed" if args.threads else "chosen per call"
    print(f"main job, local provider, threads {threads}, {args.runs} runs each")
    alone = runs(args.runs, extra, "alone")
    with busy_core():
        shared = runs(args.runs, extra, "beside one busy process")
    print(f"median alone: {alone:.1f} s (target < 60 s)")
    print(
        f"median beside one busy process: {shared:.1f} s, {shared / alone:.1f}x alone "
        "(target <= 3x)"
    )


if __name__ == "__main__":
    main()
