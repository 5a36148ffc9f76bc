"""Output tokens and what they cost: full verdicts in 10-40 block packs (before #16) against
the defaults, compact ones in packs sized by the planned answer length, on the whole
rust-book.

Setting: `blockpass run` over ../shared/data/corpora/rust-book with the 18F guide on the
in-process sandbox (the Google Vale package as the responder's rules), priced as
claude-sonnet-4-5; realtime and batch; without and with `--styles Google` (the rule engine's
share). Every figure comes from the run's own report.json and results.jsonl. The sandbox is
deterministic, so cost figures are the same on every run; wall times are medians.

First, where the output goes: each answered block's item written in each format (as the
sandbox writes it), by verdict kind and per finding, from the full-format run's results.

    python bench/output_cost.py [--runs N] [--only realtime|batch]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio

from benchkit import DATA, GOOGLE
from blockpass.blocks import Block, BlockResult, Edit, Outcome, Verdict
from blockpass.store import open_sqlite_store
from blockpass.task import load_task
from blockpass.tokens import count_tokens
from blockpass.verdicts import RuleCodes, VerdictFormat, compact_item, full_item

BOOK = DATA / "corpora" / "rust-book"
GUIDE = DATA / "guides" / "18f-content-guide"
BATCH = ["--mode", "batch", "--poll-interval", "0.5", "--poll-max", "2",
         "--sandbox-batch-seconds", "5"]  # fmt: skip
BEFORE = ["--verdicts", "full", "--max-blocks", "40", "--batch-max-blocks", "100"]
# The defaults: compact verdicts, packs bounded by the model's planned answer length.
AFTER: list[str] = []


def run(out: Path, options: list[str]) -> tuple[dict[str, Any], float]:
    command = [
        sys.executable, "-m", "blockpass.cli", "run", str(BOOK), "--guide", str(GUIDE),
        "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--sandbox-rules", str(GOOGLE),
        "--out", str(out), *options,
    ]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    return report, time.perf_counter() - began


def figures(report: dict[str, Any], seconds: float) -> str:
    cost = Decimal(report["actual_usd"]["total"])
    truncated = Decimal(report["truncation_usd"])
    return (
        f"{report['calls']} calls ({report['truncation_calls']} truncated), "
        f"{report['blocks']:,} blocks answered, output {report['tokens']['output']:,} tokens = "
        f"{report['output_tokens_per_block']:.1f}/block; truncation waste ${truncated:.4f} "
        f"({report['truncation_share']:.1%} of cost); cost ${cost:.4f} "
        f"(output ${Decimal(report['actual_usd']['output']):.4f}); ratio "
        f"{report['ratio']:.1f}x; {seconds:.1f} s"
    )


def cost_parts(out: Path, report: dict[str, Any], *, engine: bool, full: bool) -> str:
    """Where the money went: token classes, the uncached input split into block text and
    framing (tags, proposals, the answer's wrapper), and output by verdict kind (each item
    as the answer format writes it; the rest is the answers' wrappers and legends). With
    the engine (``engine``) its findings are merged into the results, so they no longer say
    what the model wrote: output is split by verdict only without it. ``full``: the run
    answered in the full format."""
    usd = {name: Decimal(value) for name, value in report["actual_usd"].items()}
    total = usd["total"]
    classes = ", ".join(
        f"{name} ${value:.4f} ({value / total:.0%})"
        for name, value in usd.items()
        if name != "total" and value
    )
    lines = map(json.loads, (out / "results.jsonl").open(encoding="utf-8"))
    answered = {
        item["block_id"]: item for item in lines if item.get("lane") and not item.get("reason")
    }
    blocks = anyio.run(stored_blocks, out)
    text = sum(count_tokens(block.text) for block in blocks if block.id in answered)
    uncached = report["tokens"]["uncached_input"]
    results = [result for result in results_of(out) if result.block_id in answered]
    codes = compact_codes(results)
    by_kind: dict[str, list[int]] = defaultdict(list)
    for result in results:
        item = full_item(result) if full else compact_item(result, codes)
        by_kind[result.verdict or ""].append(count_tokens(item) + 1)
    written = sum(map(sum, by_kind.values()))
    share = ", ".join(
        f"{kind} {len(tokens):,} blocks {sum(tokens):,} tokens" for kind, tokens in by_kind.items()
    )
    output = (
        f"  output {report['tokens']['output']:,} tokens: items {share}; wrappers and "
        f"legends {report['tokens']['output'] - written:,}"
    )
    return (
        f"  by token class: {classes}\n"
        f"  uncached input {uncached:,} tokens: block text {text:,}, framing and proposals "
        f"{uncached - text:,} ({(uncached - text) / max(1, len(answered)):.1f}/block)"
        + ("" if engine else f"\n{output}")
    )


async def stored_blocks(out: Path) -> list[Block]:
    store = await open_sqlite_store(out)
    try:
        return list(await store.blocks())
    finally:
        await store.close()


def results_of(out: Path) -> list[BlockResult]:
    """The model's results in a run directory (the engine's own and reused ones left out)."""
    found = []
    for line in (out / "results.jsonl").open(encoding="utf-8"):
        item = json.loads(line)
        if item["outcome"] != Outcome.RESULT.value or item.get("reason"):
            continue
        found.append(
            BlockResult(
                block_id=item["block_id"],
                content_hash="",
                outcome=Outcome.RESULT,
                verdict=Verdict(item["verdict"]),
                edits=tuple(
                    Edit(find=e["find"], replace=e["replace"], rule=e["rule"], source=e["source"])
                    for e in item["edits"]
                ),
                notes=tuple(item["notes"]),
            )
        )
    return found


def compact_codes(results: list[BlockResult]) -> RuleCodes:
    """The guide's codes, and a letter for each rule the results cite that it lacks (as
    each answer's legend gives them)."""
    codes = load_task(GUIDE, verdicts=VerdictFormat.COMPACT).rule_codes
    assert codes is not None
    return codes.with_legend(
        [e.rule for r in results for e in r.edits]
        + [n.split(":")[0] for r in results for n in r.notes]
    )


def where_output_goes(out: Path) -> None:
    """Item tokens per verdict kind and per finding, in both formats, for the same results."""
    results = results_of(out)
    codes = compact_codes(results)
    ok_item = {"full": count_tokens(full_item(results_of_kind(Verdict.OK))),
               "compact": count_tokens(compact_item(results_of_kind(Verdict.OK), codes))}  # fmt: skip
    by_kind: dict[tuple[str, str], list[int]] = defaultdict(list)
    beyond = {"full": 0, "compact": 0}
    findings = 0
    for result in results:
        written = {"full": full_item(result), "compact": compact_item(result, codes)}
        for name, item in written.items():
            tokens = count_tokens(item) + 1  # the comma between items
            by_kind[(result.verdict or "", name)].append(tokens)
            beyond[name] += tokens - 1 - ok_item[name]
        findings += len(result.edits) + len(result.notes)
    print(f"where the output goes ({len(results):,} answered blocks, {findings:,} findings):")
    for verdict in (Verdict.OK, Verdict.FLAG, Verdict.EDIT):
        full, compact = by_kind[(verdict, "full")], by_kind[(verdict, "compact")]
        if full:
            print(
                f"  {verdict.value:5} {len(full):5,} blocks: {statistics.mean(full):6.1f} tokens "
                f"per item full, {statistics.mean(compact):6.1f} compact"
            )
    for name in ("full", "compact"):
        print(f"  per finding ({name}): {beyond[name] / max(1, findings):.1f} tokens")


def results_of_kind(verdict: Verdict) -> BlockResult:
    return BlockResult(block_id="b", content_hash="", outcome=Outcome.RESULT, verdict=verdict)


def scenario(folder: Path, name: str, options: list[str], runs: int) -> Path:
    reports = []
    for number in range(runs):
        out = folder / f"{name}-{number}"
        reports.append(run(out, options))
    seconds = statistics.median(seconds for _, seconds in reports)
    print(f"{name}: {figures(reports[0][0], seconds)}")
    parts = cost_parts(
        folder / f"{name}-0", reports[0][0], engine="--styles" in options, full="full" in options
    )
    print(parts)
    return folder / f"{name}-0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", choices=("realtime", "batch"))
    args = parser.parse_args()
    styles = ["--styles", str(GOOGLE)]
    modes = {"realtime": ["--mode", "realtime"], "batch": BATCH}
    with tempfile.TemporaryDirectory() as folder:
        for mode, sending in modes.items():
            if args.only not in (None, mode):
                continue
            for engine, extra in (("guide only", []), ("--styles Google", styles)):
                print(f"--- {mode}, {engine}")
                before = scenario(
                    Path(folder),
                    f"{mode}-{len(extra)}-before",
                    [*sending, *BEFORE, *extra],
                    args.runs,
                )
                scenario(
                    Path(folder),
                    f"{mode}-{len(extra)}-after",
                    [*sending, *AFTER, *extra],
                    args.runs,
                )
                if mode == "realtime" and not extra:
                    where_output_goes(before)


if __name__ == "__main__":
    main()
