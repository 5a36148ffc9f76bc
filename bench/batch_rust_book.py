"""Batch mode against realtime on the whole rust-book, for both providers' APIs, on the sandbox.

For each model (claude-sonnet-4-5 through Message Batches, gpt-5-mini through the OpenAI
Batch API), `blockpass run` goes over ../shared/data/corpora/rust-book with the 18F guide on
the in-process sandbox (the Google Vale package as the responder's rules): once with
`--mode realtime`, once with `--mode batch`, and once in batch mode with 20% of batch items
failing (10% errored, 10% expired). Prints, per run: cost, calls, cache hit ratio, blocks
accounted for, time from the first batch submission to the last batch's end, and the cost
of re-submitted packs. Cost comes from the run's report.json (recorded usage priced by
prices.toml).

The sandbox processes a batch in `--sandbox-batch-seconds` (5 s here) and holds a batch
with an expired item open until its window closes: `--sandbox-batch-expiry` shortens the
24-hour window to 20 s so the faulty run finishes in minutes. Its cache inside batches is
best effort (90% of items may read an existing entry, none within the wave that writes it).

    python bench/batch_rust_book.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
BOOK = DATA / "corpora" / "rust-book"
GUIDE = DATA / "guides" / "18f-content-guide"
RULES = DATA / "styles" / "Google" / "Google"
MODELS = ("claude-sonnet-4-5", "gpt-5-mini")
BATCH = ["--mode", "batch", "--poll-interval", "0.5", "--poll-max", "2",
         "--sandbox-batch-seconds", "5"]  # fmt: skip
FAULTS = [*BATCH, "--sandbox-faults", "batch_errored=0.1,batch_expired=0.1",
          "--sandbox-batch-expiry", "20"]  # fmt: skip


def run(model: str, out: Path, options: list[str]) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "blockpass.cli", "run", str(BOOK), "--guide", str(GUIDE),
        "--provider", "sandbox", "--model", model, "--sandbox-rules", str(RULES),
        "--out", str(out), *options,
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    outcomes = [json.loads(line)["outcome"] for line in (out / "results.jsonl").open()]
    report["accounted"] = sum(outcome in ("result", "skipped", "failed") for outcome in outcomes)
    report["lines"] = len(outcomes)
    return report


def dollars(report: dict[str, Any]) -> Decimal:
    return Decimal(report["actual_usd"]["total"])


def describe(label: str, report: dict[str, Any]) -> str:
    timing = report.get("timing") or {}
    hit = report["cache_hit_ratio"]
    return (
        f"  {label:<9} ${dollars(report):.4f}  calls {report['calls']}"
        f" ({report['batch_calls']} in batches)"
        f"  cache hit {'n/a' if hit is None else format(hit, '.3f')}"
        f"  blocks accounted {report['accounted']}/{report['lines']}"
        f"  batch time {timing.get('batch_time_to_completion_seconds')} s"
        f"  resubmitted ${report['resubmitted_usd']} in {report['resubmitted_calls']} calls"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    for model in MODELS:
        shares: list[float] = []
        for number in range(args.runs):
            with tempfile.TemporaryDirectory() as folder:
                base = Path(folder)
                realtime = run(model, base / "realtime", ["--mode", "realtime"])
                batch = run(model, base / "batch", BATCH)
                faulty = run(model, base / "faults", FAULTS)
            share = float(dollars(batch) / dollars(realtime))
            shares.append(share)
            print(f"{model}, run {number + 1}:")
            print(describe("realtime", realtime))
            print(describe("batch", batch))
            print(describe("20% fail", faulty))
            print(f"  batch / realtime cost: {share:.3f}")
        print(f"{model}: median batch / realtime cost {statistics.median(shares):.3f}")


if __name__ == "__main__":
    main()
