"""Model routing on the rust-book with the 18F guide, against the sandbox (issue 15).

    python bench/routing.py [--chapters N] [--seed 0] [--styles] [--classifier MODEL]
        [--max-blocks N] [--tiers WEAK,STRONG] [--verdicts compact|full]

``--max-blocks`` holds every run's packs to N blocks (default: each model's bound from
``providers/pack_bounds.toml``, else 40). ``--verdicts``: the answer format, by default the
compact one ``blockpass run`` asks these models for.

``--styles`` gives the job the Google package too, so the rule engine runs and the heuristic
sees its hits (without it the router has no rule feature); the engine's own findings are
then in every run alike, and only the model's can be lost.

A sandbox (in-process, over HTTP) answers every model with the Google Vale package as its
rules and its quality model ON (``sandbox/quality.py``: claude-haiku-4-5 misses 25% of
substitution findings, claude-haiku-5-5 20%, more for harder rules and later pack
positions; ASSUMED rates, not measured ones); each run gets a sandbox of its own, so no run
reads a cache another one wrote. Tiers (``--tiers``): claude-haiku-4-5 -> claude-sonnet-4-5.
Runs, each in a fresh run directory:

  all-strong   every block on the strongest tier (the reference: its findings, its cost)
  heuristic    --route heuristic, with escalation
  classify     --route classify, with escalation; the pass on the weakest tier's model, or
               on ``--classifier`` (a cheaper model the sandbox also serves, e.g.
               claude-haiku-5-5), asked only about the blocks its answer can pay for
  random       each block to the strong tier with the heuristic's strong share (seeded),
               with the same escalation; then again with the classify run's strong share

For each: blocks and cost per tier, the classify pass's cost, escalations, the saving
against the all-strong run's own cost, the classify cost as a share of that saving (target
< 10%), and the findings lost against all-strong (a finding: a block and a rule the answer
names in a note or an edit; the weak tier's ``unsure:`` notes are not findings). Under each
run, where its money went: per tier, the escalation pass and the classify pass, calls,
blocks carried (a block sent twice counts twice), tokens and cost by class (uncached input,
cache writes, cache reads, which are the prefix, and output per block).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio

from benchkit import DATA, GOOGLE
from blockpass.blocks import BlockResult, Outcome
from blockpass.execution.packwork import ExecutionSettings
from blockpass.ledger import cost
from blockpass.pipeline import JobSpec, run_job
from blockpass.prices import PriceTable, load_prices
from blockpass.providers import RehearsalSettings, open_connections, parse_connection
from blockpass.routing import RoutedOutcome, Routes, run_routed
from blockpass.routing.classify import CLASSIFY_PACK
from blockpass.routing.tiers import RouteMode
from blockpass.store import CallRecord, open_sqlite_store
from blockpass.usage import TokenClass, Usage
from blockpass.verdicts import VerdictFormat

BOOK = DATA / "corpora" / "rust-book"
GUIDE = DATA / "guides" / "18f-content-guide"
TIERS = "claude-haiku-4-5,claude-sonnet-4-5"
QUALITY_NOTE = (
    "quality model: the sandbox's, ON, with ASSUMED miss rates (sandbox/quality.py), not "
    "measurements of any real model"
)


def chapters(count: int | None) -> list[Path]:
    files = sorted(BOOK.glob("ch*.md"))
    return files if count is None else files[:count]


def findings(results: Mapping[str, BlockResult]) -> set[tuple[str, str]]:
    found = set()
    for result in results.values():
        if result.outcome is not Outcome.RESULT:
            continue
        for note in result.notes:
            if not note.lower().startswith("unsure:"):
                found.add((result.block_id, note.split(":", 1)[0]))
        found.update((result.block_id, edit.rule) for edit in result.edits)
    return found


async def stored_run(out: Path) -> tuple[dict[str, BlockResult], list[CallRecord]]:
    store = await open_sqlite_store(out)
    try:
        return await store.results(), list(await store.calls())
    finally:
        await store.close()


@dataclass
class Group:
    calls: int = 0
    blocks: int = 0
    usage: Usage = field(default_factory=Usage)
    money: dict[TokenClass, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, call: CallRecord, prices: PriceTable) -> None:
        self.calls += 1
        self.blocks += len(call.block_ids)
        self.usage += call.usage
        priced = cost(call.usage, prices.for_model(call.model), batch=call.batch)
        for token_class, amount in priced.by_class().items():
            self.money[token_class] += amount

    def line(self, name: str) -> str:
        usage, money = self.usage, self.money
        total = sum(money.values(), Decimal(0))
        per = max(self.blocks, 1)
        writes = usage.cache_write
        return (
            f"{name}: {self.calls} calls, {self.blocks:,} blocks ({self.blocks / max(self.calls, 1):.1f}/call), "
            f"${total:.4f} = uncached {usage.uncached_input:,} tok ${money[TokenClass.UNCACHED_INPUT]:.4f}"
            f" + writes {writes:,} ${money[TokenClass.CACHE_WRITE_5M] + money[TokenClass.CACHE_WRITE_1H]:.4f}"
            f" + reads {usage.cache_read:,} ${money[TokenClass.CACHE_READ]:.4f}"
            f" + output {usage.output:,} ({usage.output / per:.1f}/block) ${money[TokenClass.OUTPUT]:.4f}"
        )


def breakdown(
    calls: Sequence[CallRecord], escalated: Mapping[str, str], strongest: str, prices: PriceTable
) -> list[str]:
    groups: dict[str, Group] = defaultdict(Group)
    for call in calls:
        if call.pack_id.startswith(CLASSIFY_PACK):
            key = f"classify {call.model}"
        elif call.model == strongest and any(b in escalated for b in call.block_ids):
            key = f"escalation {call.model}"
        else:
            key = f"tier {call.model}"
        groups[key].add(call, prices)
    return [groups[key].line(key) for key in sorted(groups)]


def random_router(seed: int, strong_blocks: int) -> Callable[[Routes], dict[str, int]]:
    """``strong_blocks`` blocks on the strong tier, drawn at random."""

    def choose(routes: Routes) -> dict[str, int]:
        ids = sorted(routes.tier_of)
        strong = set(random.Random(seed).sample(ids, strong_blocks))
        return {block_id: int(block_id in strong) for block_id in ids}

    return choose


def describe(name: str, routed: RoutedOutcome, strong_cost: Decimal, lost: float) -> list[str]:
    report = routed.report
    saving = strong_cost - report.cost
    share = report.classify_cost / saving if saving > 0 else None
    lines = [f"== {name}: routed {routed.routes.counts()} blocks (weak, strong)"]
    lines += [f"   {line}" for line in report.lines()[:-1]]
    lines.append(
        f"   cost ${report.cost:.4f} vs all-strong run ${strong_cost:.4f}: saved "
        f"${saving:.4f} ({saving / strong_cost:.1%})"
    )
    if report.classify_calls:
        lines.append(
            "   classify cost / saving: "
            + (f"{share:.1%} (target < 10%)" if share is not None else "no saving")
        )
    lines.append(f"   findings lost against all-strong: {lost:.1%}")
    return lines


async def main(
    count: int | None,
    seed: int,
    styles: bool,
    classifier: str | None,
    max_blocks: int | None,
    verdicts: VerdictFormat,
    tier_list: str,
) -> None:
    tiers = tier_list.split(",")
    inputs = chapters(count)
    prices = load_prices()
    models = [*tiers, classifier] if classifier else tiers
    connections = [parse_connection(f"sandbox:{model}") for model in models]
    rehearsal = RehearsalSettings(rules=GOOGLE, quality_model=True)
    engine = "; rule engine: Google" if styles else "; no rule engine"
    packs = f"; packs of at most {max_blocks}" if max_blocks else "; packs: the models' bounds"
    print(
        f"{len(inputs)} chapters of the rust-book; tiers {' -> '.join(tiers)}{engine}{packs}; "
        f"{verdicts} verdicts; each run on a sandbox of its own (caches start cold)"
    )
    print(QUALITY_NOTE)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)

        def spec(name: str) -> JobSpec:
            return JobSpec(
                inputs=inputs, guide=GUIDE, out_dir=root / name, styles=[GOOGLE] if styles else [],
                execution=ExecutionSettings(max_blocks=max_blocks), verdicts=verdicts,
            )  # fmt: skip

        started = time.monotonic()
        async with open_connections(
            connections[len(tiers) - 1 : len(tiers)], rehearsal=rehearsal
        ) as opened:
            strong = await run_job(spec("all-strong"), opened[0], prices)
        strong_results, strong_calls = await stored_run(root / "all-strong")
        reference = findings(strong_results)
        strong_cost = strong.report.actual.total
        print(
            f"== all-strong: {strong.report.blocks:,} blocks, {strong.report.calls} calls, "
            f"${strong_cost:.4f}, {len(reference):,} findings "
            f"({time.monotonic() - started:.1f} s)"
        )
        for line in breakdown(strong_calls, {}, tiers[-1], prices):
            print(f"     {line}")

        names: list[str] = []

        async def routed_run(name: str, **options: Any) -> RoutedOutcome:
            started = time.monotonic()
            names.append(name)
            out = f"routed-{len(names)}"
            async with open_connections(connections, rehearsal=rehearsal) as opened:
                providers, classifiers = opened[: len(tiers)], opened[len(tiers) :]
                if options.get("mode") is RouteMode.CLASSIFY and classifiers:
                    options["classifier"] = classifiers[0]
                routed = await run_routed(spec(out), providers, prices, **options)
            results, calls = await stored_run(root / out)
            lost = len(reference - findings(results)) / max(len(reference), 1)
            for line in describe(name, routed, strong_cost, lost):
                print(line)
            for line in breakdown(calls, routed.report.escalated, tiers[-1], prices):
                print(f"     {line}")
            print(f"   ({time.monotonic() - started:.1f} s)")
            return routed

        heuristic = await routed_run("heuristic", mode=RouteMode.HEURISTIC)
        classified = await routed_run("classify", mode=RouteMode.CLASSIFY)
        for router, routed in (("heuristic", heuristic), ("classify", classified)):
            strong_blocks = routed.routes.counts()[-1]
            await routed_run(
                f"random (the {router}'s strong share)", choose=random_router(seed, strong_blocks)
            )
    print(QUALITY_NOTE)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapters", type=int, help="the first N chapter files (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="the random router's seed")
    parser.add_argument("--styles", action="store_true", help="run the rule engine too")
    parser.add_argument("--classifier", help="the classify pass's model (default: the weakest)")
    parser.add_argument("--max-blocks", type=int, help="blocks per pack in every run")
    parser.add_argument("--tiers", default=TIERS, help=f"weakest first (default: {TIERS})")
    parser.add_argument(
        "--verdicts",
        choices=[each.value for each in VerdictFormat],
        default=VerdictFormat.COMPACT.value,
        help="the answer format (default: compact, what blockpass run asks these models for)",
    )
    arguments = parser.parse_args()
    sys.exit(
        anyio.run(
            main,
            arguments.chapters,
            arguments.seed,
            arguments.styles,
            arguments.classifier,
            arguments.max_blocks,
            VerdictFormat(arguments.verdicts),
            arguments.tiers,
        )
    )
