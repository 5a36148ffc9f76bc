"""`blockpass estimate` on 1,000,000 synthetic paragraph blocks: wall time and peak memory.

The blocks are written once as a JSONL block file (sentences drawn from the rust-book, so
token counts look like real prose); each run is a fresh `blockpass estimate` process, timed
here, with its peak resident memory read from the kernel's accounting of the child.

    python bench/estimate_scale.py [--blocks 1000000] [--runs 3]

Targets (issue 3): under 60 s and under 2 GB, median of 3 runs.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def sentences() -> list[str]:
    text = " ".join(
        path.read_text(encoding="utf-8")
        for path in sorted((DATA / "corpora" / "rust-book").glob("*.md"))
    )
    found = re.findall(r"[A-Z][^.!?`#<>|{}\n]{30,200}[.!?]", text)
    return found


def write_blocks(path: Path, count: int) -> None:
    pool = sentences()
    chooser = random.Random(1)
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            text = " ".join(chooser.choice(pool) for _ in range(chooser.randint(1, 4)))
            out.write(json.dumps({"id": f"p{number}", "kind": "paragraph", "text": text}) + "\n")


def one_run(blocks: Path) -> tuple[float, float, str]:
    guide = DATA / "guides" / "18f-content-guide"
    command = [
        sys.executable,
        "-m",
        "blockpass.cli",
        "estimate",
        str(blocks),
        "--guide",
        str(guide),
        "--model",
        "claude-sonnet-4-5",
    ]
    began = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - began
    output = process.stdout.read() if process.stdout else ""
    if status != 0:
        raise SystemExit(f"estimate failed: {process.stderr.read() if process.stderr else ''}")
    return elapsed, usage.ru_maxrss / 1024, output  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        blocks = Path(folder) / "blocks.jsonl"
        write_blocks(blocks, args.blocks)
        print(
            f"{args.blocks:,} synthetic paragraph blocks, "
            f"{blocks.stat().st_size / 1e6:.0f} MB of JSONL"
        )
        times, memories = [], []
        for run in range(1, args.runs + 1):
            elapsed, peak_mb, output = one_run(blocks)
            times.append(elapsed)
            memories.append(peak_mb)
            print(f"run {run}: {elapsed:.1f} s, peak {peak_mb:.0f} MB")
        print(output)
        print(
            f"median: {statistics.median(times):.1f} s, peak memory "
            f"{statistics.median(memories):.0f} MB over {args.runs} runs"
        )


if __name__ == "__main__":
    main()
