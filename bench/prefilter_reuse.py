"""Pre-filter, rule engine and incremental reuse on real corpora, counted by the provider.

A `blockpass sandbox` process (responder: the Google Vale package) serves every run, and its
request counter (`GET /_sandbox/stats`) says how many calls reached the provider. Runs use
`--provider anthropic --base-url` against it, priced as claude-sonnet-4-5, with the 18F guide
and the Google package as `--styles` (the engine applies what it covers).

For each corpus (rust-book, tldr):
  1. a fresh run: where every block went (skipped by reason, reused, rule engine, sent) and
     the cost against one call per block for every block;
  2. the same command again: provider calls made (expected: 0);
  3. one paragraph edited, the same command again: calls made and blocks sent (expected: 1);
  4. `--styles` without the guide: the engine covers the whole task (expected: 0 calls).

    python bench/prefilter_reuse.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
import httpx2

from benchkit import DATA, GOOGLE, free_port, start_sandbox
from blockpass.store import open_sqlite_store

GUIDE = DATA / "guides" / "18f-content-guide"
KEY = "bench-key"


def provider_calls(base_url: str) -> int:
    stats = httpx2.get(f"{base_url}/_sandbox/stats", timeout=10).json()
    return int(stats["requests"].get("POST /v1/messages", 0))


def run(base_url: str, corpus: Path, out: Path, *, guide: bool = True) -> dict[str, object]:
    command = [sys.executable, "-m", "blockpass.cli", "run", str(corpus),
               *(["--guide", str(GUIDE)] if guide else []),
               "--styles", str(GOOGLE), "--provider", "anthropic", "--base-url", base_url,
               "--model", "claude-sonnet-4-5", "--mode", "realtime", "--out", str(out)]  # fmt: skip
    environment = {**os.environ, "ANTHROPIC_API_KEY": KEY}
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=environment)
    report: dict[str, object] = json.loads((out / "report.json").read_text())
    return report


async def blocks_sent_after(out: Path, known_calls: int) -> int:
    store = await open_sqlite_store(out)
    try:
        calls = await store.calls()
    finally:
        await store.close()
    return sum(len(call.block_ids) for call in calls[known_calls:] if call.status != "error")


def edit_one_paragraph(corpus: Path) -> str:
    """Append a sentence to the first one-line prose paragraph or list item found."""
    for page in sorted(corpus.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for line in text.splitlines():
            prose = line.removeprefix("- ")
            if prose[:1].isalpha() and len(prose) > 30 and text.count(line) == 1:
                page.write_text(text.replace(line, line + " It was edited.", 1), encoding="utf-8")
                return page.name
    raise SystemExit("no paragraph to edit")


def describe(report: dict[str, object]) -> str:
    summary = report["breakdown"]
    assert isinstance(summary, dict)
    blocks = summary["blocks"]
    ratio = (
        f"{summary['ratio_all_blocks']:.1f}x cheaper"
        if summary["ratio_all_blocks"]
        else "nothing paid"
    )
    share = {key: f"{100 * value / blocks:.1f}%" for key, value in summary["skipped"].items()}
    skipped = sum(summary["skipped"].values())
    return (
        f"{blocks} blocks: skipped {skipped} ({100 * skipped / blocks:.1f}%; by reason {share}), "
        f"reused {summary['reused']} ({100 * summary['reused'] / blocks:.1f}%), "
        f"rule engine only {summary['by_rules']}, sent to the model {summary['sent_to_model']} "
        f"({100 * summary['sent_to_model'] / blocks:.1f}%), failed {summary['failed']}; "
        f"actual ${float(summary['actual_usd']):.4f} vs ${float(summary['baseline_all_blocks_usd']):.4f} "
        f"for one call per block: {ratio}; saved "
        + ", ".join(f"{name} ${float(amount):.2f}" for name, amount in summary["saved_usd"].items())
    )


def main() -> None:
    print(
        "responder: sandbox with styles/Google/Google; prices: claude-sonnet-4-5; guide: 18F; --styles Google"
    )
    port = free_port()
    server = start_sandbox(port, KEY)
    base_url = f"http://127.0.0.1:{port}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            for name in ("rust-book", "tldr"):
                corpus = Path(folder) / name
                shutil.copytree(DATA / "corpora" / name, corpus)
                out = Path(folder) / f"{name}-run"
                before = provider_calls(base_url)
                report = run(base_url, corpus, out)
                first = provider_calls(base_url) - before
                print(f"{name}, first run: {first} provider calls; {describe(report)}")
                before = provider_calls(base_url)
                report = run(base_url, corpus, out)
                print(
                    f"{name}, second run, unchanged: {provider_calls(base_url) - before} provider calls"
                )
                known = int(report["calls"])  # type: ignore[call-overload]
                page = edit_one_paragraph(corpus)
                before = provider_calls(base_url)
                run(base_url, corpus, out)
                sent = anyio.run(blocks_sent_after, out, known)
                print(
                    f"{name}, one paragraph of {page} edited: {provider_calls(base_url) - before} provider calls, {sent} block sent"
                )
                before = provider_calls(base_url)
                report = run(base_url, corpus, Path(folder) / f"{name}-styles-only", guide=False)
                print(
                    f"{name}, --styles Google alone: {provider_calls(base_url) - before} provider calls; {describe(report)}"
                )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
