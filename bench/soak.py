"""Soak: 10,000 blocks through a faulty provider, killed and interrupted again and again.

The provider is a `blockpass sandbox` process of its own, so its counters outlive every
client it serves. Its responder applies the Google Vale package; 20% of requests draw a
fault (529, 500, truncated output, dropped ids, a slow answer); 10% of batch items error or
never finish, and a batch expires what is left 15 s after it was created. The job is
`blockpass run` as a user runs it (`--provider anthropic --base-url`, priced as
claude-sonnet-4-5, the 18F guide) over a JSONL file of distinct prose blocks taken from the
rust-book and tldr corpora and the 18F guide's pages.

Each mode (realtime, batch) is started, then stopped at random points: SIGKILL at 10 of
them and SIGINT at 2, each after a random number of requests (polls included), and finally run to
the end. Then, from the run's own store and report against the sandbox's counters:

  accounted     every block has a result, a skip or a failure
  paid twice    blocks sent in a paid call after the call that produced their result
  calls         the report's answered calls plus those it lists as interrupted (sent,
                outcome unknown) against the requests and batch items the sandbox received

    python bench/soak.py [--blocks 10000] [--kills 10] [--interrupts 2] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx2

from benchkit import DATA, GOOGLE, accounting, free_port, start_sandbox
from blockpass.documents import read_documents
from blockpass.prefilter import PrefilterSettings, prefilter
from blockpass.prices import load_prices
from blockpass.usage import TokenClass

GUIDE = DATA / "guides" / "18f-content-guide"
KEY = "soak-key"
FAULTS = "overloaded=0.04,server_error=0.04,truncate=0.04,drop_ids=0.04,slow=0.04"
BATCH_FAULTS = "batch_errored=0.05,batch_expired=0.05"


def distinct_prose_blocks(count: int) -> list[dict[str, str]]:
    """Blocks the model must see: prose the pre-filter keeps, each text once (no reuse)."""
    corpora = [DATA / "corpora" / "rust-book", DATA / "corpora" / "tldr", GUIDE]
    blocks = [block for document in read_documents(corpora) for block in document.blocks]
    to_do, _ = prefilter(blocks, PrefilterSettings())
    seen: set[str] = set()
    chosen = []
    for block in to_do:
        if block.content_hash not in seen:
            seen.add(block.content_hash)
            chosen.append({"id": f"s{len(chosen)}", "kind": block.kind.value, "text": block.text})
    if len(chosen) < count:
        raise SystemExit(f"the corpora hold only {len(chosen)} distinct prose blocks")
    return chosen[:count]


def sandbox_stats(base_url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx2.get(f"{base_url}/_sandbox/stats", timeout=10).json()
    return stats


def provider_work(stats: dict[str, Any]) -> int:
    """Requests in realtime plus items in batches: what the sandbox has been asked to do."""
    return int(stats["requests"].get("POST /v1/messages", 0)) + int(
        stats["batches"]["anthropic"]["items"]
    )


def any_requests(stats: dict[str, Any]) -> int:
    """Every request the sandbox has seen, polls included: a clock that ticks in both modes."""
    return sum(count for key, count in stats["requests"].items() if not key.startswith("status"))


def run_command(corpus: Path, out: Path, base_url: str, mode: str) -> list[str]:
    return [
        sys.executable, "-m", "blockpass.cli", "run", str(corpus), "--guide", str(GUIDE),
        "--provider", "anthropic", "--base-url", base_url, "--model", "claude-sonnet-4-5",
        "--mode", mode, "--poll-interval", "0.5", "--poll-max", "2", "--out", str(out),
        # Batches of 8 requests: many submissions, so many moments to be stopped at.
        *(["--max-batch-requests", "8"] if mode == "batch" else []),
    ]  # fmt: skip


def stop_after(
    command: list[str], base_url: str, requests: int, how: signal.Signals
) -> tuple[bool, int]:
    """Start the job, let the sandbox see ``requests`` more requests, then send ``how``.

    Returns whether the signal landed (the job was still running) and its exit code.
    """
    environment = {**os.environ, "ANTHROPIC_API_KEY": KEY}
    start = any_requests(sandbox_stats(base_url))
    child = subprocess.Popen(
        command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while child.poll() is None and any_requests(sandbox_stats(base_url)) - start < requests:
        time.sleep(0.05)
    landed = child.poll() is None
    if landed:
        child.send_signal(how)
    return landed, child.wait(timeout=120)


# The sandbox's usage totals (realtime calls only) by blockpass's token classes.
SANDBOX_USAGE = {
    "input_tokens": TokenClass.UNCACHED_INPUT,
    "ephemeral_5m_input_tokens": TokenClass.CACHE_WRITE_5M,
    "ephemeral_1h_input_tokens": TokenClass.CACHE_WRITE_1H,
    "cache_read_input_tokens": TokenClass.CACHE_READ,
    "output_tokens": TokenClass.OUTPUT,
}


def sandbox_billed(before: dict[str, Any], after: dict[str, Any]) -> Decimal:
    """What the sandbox produced in realtime answers between two readings, at list price."""
    card = load_prices().for_model("claude-sonnet-4-5")
    return sum(
        (
            (after["usage"].get(key, 0) - before["usage"].get(key, 0))
            * card.per_million(token_class, batch=False, long=False)
            / 1_000_000
            for key, token_class in SANDBOX_USAGE.items()
        ),
        Decimal(0),
    )


def soak(mode: str, corpus: Path, folder: Path, base_url: str, args: argparse.Namespace) -> None:
    rng = random.Random(f"{args.seed}-{mode}")
    out = folder / f"run-{mode}"
    command = run_command(corpus, out, base_url, mode)
    stops = [signal.SIGKILL] * args.kills + [signal.SIGINT] * args.interrupts
    rng.shuffle(stops)
    before = sandbox_stats(base_url)
    began = time.perf_counter()
    landed: Counter[str] = Counter()
    exits = set()
    for how in stops:
        hit, code = stop_after(command, base_url, rng.randint(1, args.max_gap), how)
        landed[how.name] += hit
        exits.add(code)
    environment = {**os.environ, "ANTHROPIC_API_KEY": KEY}
    final = subprocess.run(command, env=environment, stdout=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - began
    after = sandbox_stats(base_url)
    report = json.loads((out / "report.json").read_text())
    counts = anyio.run(accounting, out)
    answered = provider_work(after) - provider_work(before)
    interrupted = report["interrupted_calls"]
    print(
        f"{mode}: {len(stops)} stops, landing while the job ran: {landed['SIGKILL']} of "
        f"{args.kills} SIGKILL, {landed['SIGINT']} of {args.interrupts} SIGINT (exit codes "
        f"{sorted(exits)}); final exit {final.returncode}, {elapsed:.0f} s in all\n"
        f"  accounted {counts['accounted']}/{counts['blocks']} ({counts['failed']} failed), "
        f"blocks paid twice {counts['paid_twice']}\n"
        f"  report: {report['calls']} calls ({interrupted} listed as interrupted), "
        f"actual ${float(report['actual_usd']['total']):.4f}, at most "
        f"${float(report['at_most_usd']):.4f}; sandbox: {answered} requests/items; "
        f"report calls + interrupted - sandbox = {report['calls'] + interrupted - answered}"
    )
    if mode == "realtime":
        print(f"  the sandbox answered ${float(sandbox_billed(before, after)):.4f} at list price")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--interrupts", type=int, default=2)
    parser.add_argument("--max-gap", type=int, default=25, help="most requests between stops")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--modes", default="realtime,batch")
    args = parser.parse_args()
    print(
        f"responder: sandbox with {GOOGLE.relative_to(DATA)}; prices: claude-sonnet-4-5; "
        f"guide: 18F; corpus: {args.blocks} distinct prose blocks of rust-book, tldr and the 18F guide; "
        f"faults: {FAULTS} (batch items: {BATCH_FAULTS})"
    )
    port = free_port()
    server = start_sandbox(
        port, KEY, "--faults", f"{FAULTS},{BATCH_FAULTS}", "--seed", str(args.seed),
        "--slow-seconds", "1", "--latency", "0.05", "--batch-seconds", "3", "--batch-expiry", "15",
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            corpus = folder / "blocks.jsonl"
            corpus.write_text(
                "".join(json.dumps(block) + "\n" for block in distinct_prose_blocks(args.blocks)),
                encoding="utf-8",
            )
            for mode in args.modes.split(","):
                soak(mode, corpus, folder, base_url, args)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
