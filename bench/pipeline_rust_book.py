"""The core pipeline on the whole rust-book with the 18F guide, against the sandbox.

Responder: the sandbox's deterministic responder with the Google Vale package (edits and
flags on a good share of paragraphs). Prices: claude-sonnet-4-5 from the shipped price
table. Every figure comes from the run's own report.json and store.

Three scenarios, each `blockpass run` as a user runs it (a fresh process, sandbox in-process):
  clean    a fresh run directory, `--runs` times: cost ratio, cache hit ratio, accounting
  faults   10% truncated answers, 5% 529s, 5% dropped ids: accounting and the retries' cost
  killed   SIGKILL after 20 stored calls, then the same command again: blocks paid twice

    python bench/pipeline_rust_book.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from benchkit import DATA, GOOGLE, accounting

BOOK = DATA / "corpora" / "rust-book"
GUIDE = DATA / "guides" / "18f-content-guide"
RULES = GOOGLE


def command(out: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "blockpass.cli", "run", str(BOOK), "--guide", str(GUIDE),
        "--provider", "sandbox", "--mode", "realtime", "--model", "claude-sonnet-4-5", "--sandbox-rules", str(RULES), "--out", str(out), *extra,
    ]  # fmt: skip


def summary(out: Path) -> str:
    report = json.loads((out / "report.json").read_text())
    counts = anyio.run(accounting, out)
    return (
        f"{counts['accounted']}/{counts['blocks']} blocks accounted for "
        f"({counts['results']} results, {counts['skipped']} skipped, {counts['failed']} failed), "
        f"{report['calls']} calls, actual ${float(report['actual_usd']['total']):.4f} vs baseline "
        f"${float(report['baseline_usd']['total']):.4f}: {report['ratio']:.1f}x cheaper, "
        f"cache hit ratio {report['cache_hit_ratio']:.4f}, retries/wasted "
        f"${float(report['retry_usd']):.4f} in {report['retry_calls']} calls"
    )


def clean_runs(folder: Path, runs: int) -> None:
    times = []
    for run in range(1, runs + 1):
        out = folder / f"clean-{run}"
        began = time.perf_counter()
        subprocess.run(command(out), check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - began)
        print(f"clean run {run}: {times[-1]:.1f} s; {summary(out)}")
    print(f"clean: median wall time {statistics.median(times):.1f} s over {runs} runs")


def fault_run(folder: Path) -> None:
    out = folder / "faults"
    faults = "truncate=0.1,overloaded=0.05,drop_ids=0.05"
    subprocess.run(command(out, "--sandbox-faults", faults), check=True, stdout=subprocess.DEVNULL)
    report = json.loads((out / "report.json").read_text())
    statuses = {status: line["calls"] for status, line in report["by_status"].items()}
    print(f"faults ({faults}): {summary(out)}; calls by status {statuses}")


def killed_run(folder: Path) -> None:
    out = folder / "killed"
    child = subprocess.Popen(
        command(out, "--sandbox-latency", "0.2", "--concurrency", "4", "--verbose"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stderr is not None
    stored = 0
    for line in child.stderr:
        stored += line.startswith("call ")
        if stored >= 20:
            break
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    before = anyio.run(accounting, out)
    subprocess.run(command(out), check=True, stdout=subprocess.DEVNULL)
    print(
        f"killed after {stored} stored calls ({before['results']} results kept), restarted: "
        f"{summary(out)}"
    )
    counts = anyio.run(accounting, out)
    print(f"killed: blocks paid twice = {counts['paid_twice']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(
        f"responder: sandbox with {RULES.relative_to(DATA)}; prices: claude-sonnet-4-5; "
        f"corpus: {BOOK.relative_to(DATA)}"
    )
    with tempfile.TemporaryDirectory() as folder:
        clean_runs(Path(folder), args.runs)
        fault_run(Path(folder))
        killed_run(Path(folder))


if __name__ == "__main__":
    main()
