"""The whole guide against retrieved rules on the rust-book, through the sandbox (issue 13).

    python bench/context_cost.py --guide redhat [--chapters 20] [--k N] [--cache-dir DIR]
    python bench/context_cost.py --guide 18f [--chapters 20]

Each mode is `blockpass run` as a user runs it (a fresh process, the sandbox in-process,
realtime), priced as claude-sonnet-4-5 from the shipped price table:

- ``full``: the whole guide cached in the prefix (the Red Hat guide is about 157,000 tokens on
  blockpass's Claude tokenizer: it fits claude-sonnet-4-5's 200,000-token window beside a
  pack and its planned answer, ``layout.answer_room``);
- ``retrieve``: the guide's core cached, each pack's retrieved sections after it;
- ``auto``: whatever ``--context auto`` picks, with its reason.

Responder: the sandbox's, with the guide's Vale package as its rules (RedHat for the Red Hat
guide, Google for 18F). A retrieve-mode request gets only the rules it carries
(``sandbox/presence.py``): a Red Hat rule when the section it belongs to was retrieved
(``styles/RedHat/rule_links.tsv``), so a retrieval miss costs findings. Findings are
(block, rule) pairs from results.jsonl; "lost" are those of the full run missing from the
other, counted over all rules and over the rules the guide has a section for (the others
are not in the guide at all: a model shown the whole guide would not know them either).
Google rules have no section in the 18F guide, so on 18F the retrieve run finds none of
them: that comparison is one of cost only, and its output cost (the findings written) falls
with the findings; the input cost (what retrieval changes, and what ``auto`` compares at an
equal output estimate) is printed apart, as are truncated calls (a pack whose answer did not
fit its max_tokens, sent again in smaller packs).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchkit import DATA
from blockpass.sandbox.presence import RuleLinks

BOOK = DATA / "corpora" / "rust-book"
GUIDES = {
    "redhat": (DATA / "guides" / "redhat-supplementary-style-guide", DATA / "styles" / "RedHat"),
    "18f": (DATA / "guides" / "18f-content-guide", DATA / "styles" / "Google"),
}
PRICED_AS = "claude-sonnet-4-5"


def run(out: Path, inputs: list[Path], guide: Path, rules: Path, model: str, *extra: str) -> float:
    command = [
        sys.executable, "-m", "blockpass.cli", "run", *map(str, inputs), "--guide", str(guide),
        "--provider", "sandbox", "--model", model, "--mode", "realtime",
        "--sandbox-rules", str(rules), "--out", str(out), "--plain", *extra,
    ]  # fmt: skip
    began = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def findings(out: Path) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for line in (out / "results.jsonl").read_text().splitlines():
        result = json.loads(line)
        for edit in result.get("edits", []):
            found.add((result["block_id"], edit["rule"]))
        for note in result.get("notes", []):
            found.add((result["block_id"], note.split(":", 1)[0]))
    return found


def describe(name: str, out: Path, seconds: float) -> dict[str, object]:
    report = json.loads((out / "report.json").read_text())
    context = report.get("context", {})
    retrieval = context.get("retrieval", {})
    print(
        f"{name:9} ${float(report['actual_usd']['total']):9.4f}  {report['calls']:5} calls  "
        f"cache hit {report['cache_hit_ratio'] or 0:.3f}  {len(findings(out)):6} findings  "
        f"{seconds:7.1f} s  mode {context.get('mode')}: {context.get('reason')}"
    )
    usd = report["actual_usd"]
    truncated = sum(1 for call in calls(out) if call == "truncated")
    print(
        f"{'':9} input ${input_usd(report):.4f} (cache reads "
        f"${float(usd['cache_read']):.4f}), output ${float(usd['output']):.4f}; "
        f"{truncated} of the calls truncated; "
        f"{report['blocks'] / max(1, report['calls']):.1f} blocks per call"
    )
    if retrieval:
        print(f"{'':9} retrieval: {json.dumps(retrieval)}")
    print_breakdown(report, retrieval)
    return report


CLASSES = {
    "uncached_input": "uncached",
    "cache_write_5m": "write 5m",
    "cache_write_1h": "write 1h",
    "cache_read": "read",
    "output": "output",
}


def print_breakdown(report: dict[str, Any], retrieval: dict[str, Any]) -> None:
    """The cost by token class, then by request part: the cached parts (the prefix, and in
    retrieve mode the shared units after it and the whole guide of packs that fall back to
    it: written, then read), the packs' own retrieved units and their blocks (both
    uncached: the own units' tokens come from the run's retrieval counts, the blocks are
    the rest), and the output."""
    tokens, usd = report["tokens"], report["actual_usd"]
    print(
        f"{'':9} by token class: "
        + "; ".join(
            f"{name} {tokens[key]:,} tok ${float(usd[key]):.4f}"
            for key, name in CLASSES.items()
            if tokens[key]
        )
    )
    uncached = tokens["uncached_input"]
    per_uncached = float(usd["uncached_input"]) / uncached if uncached else 0.0
    own = retrieval.get("own_tokens", 0)
    calls = report["calls"]
    written = tokens["cache_write_5m"] + tokens["cache_write_1h"]
    cached_part = (written + tokens["cache_read"]) // calls if calls else 0
    shared = retrieval.get("shared_tokens", 0)
    cached_name = f"prefix + shared units ({shared:,} tok)" if shared else "prefix"
    if retrieval.get("fallback", {}).get("full guide"):
        cached_name += " + fallbacks' whole guide"
    write_usd = float(usd["cache_write_5m"]) + float(usd["cache_write_1h"])
    print(
        f"{'':9} by part: {cached_name}, about {cached_part:,} tok per call: written "
        f"${write_usd:.4f}, read ${float(usd['cache_read']):.4f}; packs' own units "
        f"{own:,} tok ${own * per_uncached:.4f}; blocks and framing {uncached - own:,} tok "
        f"${(uncached - own) * per_uncached:.4f}; output ${float(usd['output']):.4f}"
    )


def input_usd(report: dict[str, object]) -> float:
    usd = report["actual_usd"]
    assert isinstance(usd, dict)
    parts = ("uncached_input", "cache_write_5m", "cache_write_1h", "cache_read")
    return sum(float(usd[part]) for part in parts)


def calls(out: Path) -> list[str]:
    """Each call's status, from the run's store."""
    with sqlite3.connect(out / "run.sqlite") as store:
        return [status for (status,) in store.execute("SELECT status FROM calls")]


def lost(full: set[tuple[str, str]], other: set[tuple[str, str]], linked: set[str]) -> str:
    missing = full - other
    in_guide = {pair for pair in full if pair[1] in linked}
    missing_in_guide = missing & in_guide
    share = len(missing) / len(full) if full else 0.0
    share_in_guide = len(missing_in_guide) / len(in_guide) if in_guide else 0.0
    return (
        f"{len(missing)} of {len(full)} findings lost ({share:.1%}); of the {len(in_guide)} "
        f"from rules the guide has a section for: {len(missing_in_guide)} ({share_in_guide:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--guide", choices=sorted(GUIDES), required=True)
    parser.add_argument("--chapters", type=int, default=0, help="first N chapters (0: all)")
    parser.add_argument("--k", type=int, help="retrieved sections per block (default: blockpass's)")
    parser.add_argument("--cache-dir", type=Path, help="keep guide indexes here between runs")
    args = parser.parse_args()
    guide, package = GUIDES[args.guide]
    rules = package / package.name
    chapters = sorted(BOOK.glob("ch*.md"))
    inputs = chapters[: args.chapters] if args.chapters else [BOOK]
    linked = set(RuleLinks.beside(rules).section)
    print(
        f"rust-book, {len(chapters[: args.chapters]) if args.chapters else len(chapters)} "
        f"chapters; guide {guide.name}; responder rules {rules}; priced as {PRICED_AS}"
    )
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        cache = ["--cache-dir", str(args.cache_dir or base / "cache")]
        cache += ["--k", str(args.k)] if args.k else []
        outs = {}
        seconds = run(base / "full", inputs, guide, rules, PRICED_AS)
        print("full guide:")
        outs["full"] = describe("full", base / "full", seconds)
        for mode in ("retrieve", "auto"):
            out = base / mode
            seconds = run(out, inputs, guide, rules, PRICED_AS, "--context", mode, *cache)
            outs[mode] = describe(mode, out, seconds)
        full = findings(base / "full")
        for mode in ("retrieve", "auto"):
            cost = float(outs[mode]["actual_usd"]["total"])  # type: ignore[index]
            full_cost = float(outs["full"]["actual_usd"]["total"])  # type: ignore[index]
            inputs_ratio = input_usd(outs["full"]) / input_usd(outs[mode])
            print(
                f"{mode}: {full_cost / cost:.2f}x cheaper than the whole guide "
                f"(input alone: {inputs_ratio:.2f}x)"
            )
            print(f"{mode}: {lost(full, findings(base / mode), linked)}")


if __name__ == "__main__":
    main()
