"""Agentic mode against packed mode on rust-book chapters 1-5, with the 18F guide (issue 14).

Both runs are `blockpass run` as a user runs it, on the sandbox (in-process), its responder
applying the Google Vale package, priced as claude-sonnet-4-5:

  packed    --mode realtime: the whole guide in the cached prefix, one call per pack
  agentic   --mode agentic: the guide's core cached, a search_style_rules tool the model
            looks the other rules up with, a tool loop per pack

For each: where every block ended, the turns per pack (calls per pack, from the store), the
cache hit ratio, the cost (report.json) and the cost of the agentic run against the packed.
The sandbox's responder looks up each block of a pack once, in one turn, then answers; a
real model may look up more or less, so the turn counts are the responder's, the token
accounting and prices are blockpass's own.

    python bench/agentic_rust_book.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import anyio

from benchkit import DATA, GOOGLE, accounting
from blockpass.store import open_sqlite_store

BOOK = DATA / "corpora" / "rust-book"
GUIDE = DATA / "guides" / "18f-content-guide"
MODES = {"packed": "realtime", "agentic": "agentic"}


def chapters_one_to_five(folder: Path) -> Path:
    inputs = folder / "rust-book-ch1-5"
    inputs.mkdir()
    for chapter in sorted(BOOK.glob("ch0[1-5]-*.md")):
        shutil.copy(chapter, inputs)
    return inputs


def run(inputs: Path, out: Path, mode: str) -> None:
    command = [sys.executable, "-m", "blockpass.cli", "run", str(inputs), "--guide", str(GUIDE)]
    command += ["--provider", "sandbox", "--model", "claude-sonnet-4-5"]
    command += ["--sandbox-rules", str(GOOGLE), "--mode", mode, "--out", str(out)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


async def turns_per_pack(out: Path) -> Counter[int]:
    """How many calls each pack took, counted over packs (all attempts of a pack together)."""
    store = await open_sqlite_store(out)
    try:
        calls = await store.calls()
    finally:
        await store.close()
    return Counter(Counter(call.pack_id for call in calls).values())


def describe(name: str, out: Path) -> float:
    report = json.loads((out / "report.json").read_text())
    counts = anyio.run(accounting, out)
    turns = anyio.run(turns_per_pack, out)
    packs = sum(turns.values())
    mean = statistics.fmean([n for n, packs_with in turns.items() for _ in range(packs_with)])
    actual = float(report["actual_usd"]["total"])
    print(
        f"{name}: {counts['accounted']}/{counts['blocks']} blocks accounted for "
        f"({counts['results']} results, {counts['skipped']} skipped, {counts['failed']} failed, "
        f"{counts['paid_twice']} paid twice); {report['calls']} calls for {packs} packs, "
        f"turns per pack {dict(sorted(turns.items()))} (mean {mean:.2f}); cache hit ratio "
        f"{report['cache_hit_ratio']:.4f}; actual ${actual:.4f} vs baseline "
        f"${float(report['baseline_usd']['total']):.4f}; tokens {report['tokens']}"
    )
    return actual


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="keep the run directories in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        inputs = chapters_one_to_five(Path(temporary))
        costs = {}
        for name, mode in MODES.items():
            run(inputs, folder / name, mode)
            costs[name] = describe(name, folder / name)
        ratio = costs["agentic"] / costs["packed"]
        print(
            f"agentic costs {ratio:.2f}x packed mode on the same job (priced as claude-sonnet-4-5)"
        )


if __name__ == "__main__":
    main()
