"""RouterBench-style routing evaluation on the labelled suites, against the sandbox.

    python bench/route_replay.py --out DIR [--limit 150] [--pack-size 10] [--seed 0]

Every labelled block (Google, Microsoft, write-good fixtures and injected violations;
RedHat lines; ``--limit`` per suite drawn with the seed) is answered once by each tier
(claude-haiku-4-5, claude-sonnet-4-5) through ``run_job`` in packs of ``--pack-size``, on a
sandbox per suite with its quality model ON (ASSUMED miss rates: sandbox/quality.py). That
gives the table (block, tier, cost, quality); the classify pass runs once on the blocks the
heuristic leaves unsettled, on the weak tier's model and on claude-haiku-5-5. Routers are
then replayed on the held-out half (``evaluation/router_replay.py``): all-weak, all-strong,
the heuristic (its features with the package's rule hits, as ``--styles`` gives them), the
classify pass (heuristic-settled blocks keep their tier) with either classifier, and random
at the heuristic's strong share (mean of 20 seeds). Printed: each router's strong share,
cost per block, quality and PGR; per scored router APGR and the strong share needed for 50%
and 80% of the gap closed. Written: ``table.jsonl``, ``routers.json``, ``cost_quality.png``,
``pgr_curve.png``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import anyio
import matplotlib

from benchkit import DATA
from blockpass.blocks import Block
from blockpass.evaluation.labelled import Suite, load_suite
from blockpass.evaluation.router_replay import (
    STRONG,
    WEAK,
    CurvePoint,
    Replay,
    TierRow,
    apgr,
    block_quality,
    calls_for,
    held_out,
    random_choice,
    replay,
    threshold_curve,
)  # fmt: skip
from blockpass.evaluation.sweep import Cell, run_cell, sample
from blockpass.execution.lane_runs import Mode
from blockpass.ledger import cost
from blockpass.prices import PriceTable, load_prices
from blockpass.providers import RehearsalSettings, open_connections, parse_connection
from blockpass.routing.classify import classify_blocks
from blockpass.routing.heuristic import (
    LEVEL_WEIGHTS,
    POINTS_PER_TIER,
    BlockFeatures,
    heuristic_tier,
)  # fmt: skip
from blockpass.rules import RulePackage, check_text, load_vale_package

matplotlib.use("Agg")
from matplotlib import pyplot

TIERS = ("claude-haiku-4-5", "claude-sonnet-4-5")
CHEAP_CLASSIFIER = "claude-haiku-5-5"
SUITES = ("Google", "Microsoft", "write-good", "RedHat")
QUALITY_NOTE = (
    "quality model: the sandbox's, ON, with ASSUMED miss rates (sandbox/quality.py), not "
    "measurements of any real model"
)


def features(package: RulePackage, block: Block) -> BlockFeatures:
    """The heuristic's features, with the package's rule hits as a run with ``--styles``
    weighs them."""
    levels = {rule.id: rule.level for rule in package.rules}
    alerts = check_text(block.text, package.rules)
    weight = sum(LEVEL_WEIGHTS.get(levels.get(alert.rule_id, ""), 1.0) for alert in alerts)
    return replace(BlockFeatures.of(block), rule_weight=weight)


async def suite_rows(
    suite: Suite, limit: int, seed: int, size: int, prices: PriceTable, work: Path
) -> tuple[list[TierRow], dict[str, float], dict[str, dict[str, int]], dict[str, float]]:
    """The suite's table rows; the heuristic score per block; the classify passes' tiers
    (per classifier) and cost per block (per classifier, keyed ``model/case``)."""
    cases = sample(suite, limit, seed)
    rehearsal = RehearsalSettings(rules=suite.rules_dir, quality_model=True)
    connections = [parse_connection(f"sandbox:{m}") for m in (*TIERS, CHEAP_CLASSIFIER)]
    rows: list[TierRow] = []
    async with open_connections(connections, rehearsal=rehearsal) as providers:
        for tier, provider in enumerate(providers[: len(TIERS)]):
            cell = Cell(model=TIERS[tier], mode=Mode.REALTIME, pack_size=size)
            run = await run_cell(
                suite, cases, provider, prices, cell=cell, folder=work / suite.name / cell.name
            )
            rows += [
                TierRow(
                    case_id=s.case_id,
                    tier=tier,
                    model=TIERS[tier],
                    cost=s.cost,
                    quality=block_quality(s),
                )
                for s in run.scores
            ]
        scored = {row.case_id for row in rows}
        blocks = {
            case.id: Block.create(document_id=suite.name, index=n, kind=case.kind, text=case.text)
            for n, case in enumerate(cases)
            if case.id in scored
        }
        package = load_vale_package(suite.rules_dir)
        found = {c: features(package, block) for c, block in blocks.items()}
        score = {case_id: f.score() for case_id, f in found.items()}
        unsettled = [blocks[c] for c, f in found.items() if not f.settled(len(TIERS))]
        case_of = {block.id: case_id for case_id, block in blocks.items()}
        tiers: dict[str, dict[str, int]] = {}
        overhead: dict[str, float] = {}
        for classifier in (providers[0], providers[-1]):
            model = classifier.profile.id
            classified = await classify_blocks(classifier, unsettled, TIERS)
            tiers[model] = {
                c: classified.tier_of.get(blocks[c].id, heuristic_tier(f, len(TIERS)))
                for c, f in found.items()
            }
            for call in classified.calls:
                paid = cost(call.usage, prices.for_model(call.model), batch=False).total
                for block_id in call.block_ids:
                    key = f"{model}/{case_of[block_id]}"
                    overhead[key] = float(paid) / len(call.block_ids)
    return rows, score, tiers, overhead


def describe(result: Replay) -> str:
    pgr = "n/a" if result.pgr is None else f"{result.pgr:.3f}"
    return (
        f"{result.router:<34} strong share {result.strong_share:6.1%}  "
        f"${result.cost:.6f}/block  quality {result.quality:.4f}  PGR {pgr}"
    )


Curves = dict[str, list[CurvePoint]]


async def measure(
    limit: int, size: int, seed: int
) -> tuple[dict[tuple[str, int], TierRow], list[str], list[Replay], Curves]:
    prices = load_prices()
    corpus = sorted((DATA / "corpora" / "rust-book").glob("ch*.md"))
    table: dict[tuple[str, int], TierRow] = {}
    score: dict[str, float] = {}
    tiers: dict[str, dict[str, int]] = {}
    overhead: dict[str, float] = {}
    print(f"tiers {' -> '.join(TIERS)}; packs of {size}; {limit} blocks per suite; seed {seed}")
    print(QUALITY_NOTE)
    with tempfile.TemporaryDirectory() as work:
        for name in SUITES:
            suite = load_suite(DATA / "styles" / name, corpus=corpus, injected=40, seed=seed)
            rows, scores, classified, costs = await suite_rows(
                suite, limit, seed, size, prices, Path(work)
            )
            table.update({(row.case_id, row.tier): row for row in rows})
            score.update(scores)
            for model, chosen in classified.items():
                tiers.setdefault(model, {}).update(chosen)
            overhead.update(costs)
    cases = sorted(score)
    calibration, test = held_out(cases, seed)
    print(f"table: {len(table):,} rows, {len(cases):,} blocks; held-out split "
          f"{len(calibration):,} calibration / {len(test):,} test")  # fmt: skip
    # The heuristic's own rule (heuristic.heuristic_tier): POINTS_PER_TIER points per tier up.
    heuristic = {c: min(STRONG, int(max(score[c], 0.0) // POINTS_PER_TIER)) for c in cases}
    results = [
        replay("all-weak", table, dict.fromkeys(cases, WEAK), test),
        replay("all-strong", table, dict.fromkeys(cases, STRONG), test),
        replay("heuristic", table, heuristic, test),
    ]
    share = results[-1].strong_share
    randoms = [replay("random", table, random_choice(test, share, s), test) for s in range(20)]
    results.append(
        Replay(
            router=f"random at {share:.1%} strong (20 seeds)",
            blocks=len(test),
            strong_share=statistics.mean(r.strong_share for r in randoms),
            cost=statistics.mean(r.cost for r in randoms),
            quality=statistics.mean(r.quality for r in randoms),
            pgr=statistics.mean(r.pgr for r in randoms if r.pgr is not None),
        )
    )
    curves = {"heuristic": threshold_curve("heuristic", table, score, calibration, test)}
    for model, chosen in tiers.items():
        own = {
            key.split("/", 1)[1]: value
            for key, value in overhead.items()
            if key.startswith(f"{model}/")
        }
        name = f"classify on {model}"
        results.append(replay(name, table, chosen, test, overhead=own))
        ranked = {c: chosen[c] * 100 + score[c] for c in cases}
        curves[name] = threshold_curve(name, table, ranked, calibration, test, overhead=own)
    randomly = {c: random.Random(f"{seed}/{c}").random() for c in cases}
    curves["random"] = threshold_curve("random", table, randomly, calibration, test)
    return table, test, results, curves


def report(
    out: Path,
    table: dict[tuple[str, int], TierRow],
    test: list[str],
    results: list[Replay],
    curves: Curves,
) -> None:
    for result in results:
        print(describe(result))
    summary = {}
    for name, points in curves.items():
        replays = [point.replay for point in points]
        area = apgr(replays)
        half, most = calls_for(replays, 0.5), calls_for(replays, 0.8)
        summary[name] = {"apgr": area, "calls_at_50": half, "calls_at_80": most}
        print(
            f"{name:<34} APGR {area:.3f}  strong calls for 50% of the gap "
            f"{'n/a' if half is None else f'{half:.1%}'}, for 80% "
            f"{'n/a' if most is None else f'{most:.1%}'}"
        )
    out.mkdir(parents=True, exist_ok=True)
    with (out / "table.jsonl").open("w") as handle:
        for row in table.values():
            handle.write(json.dumps(asdict(row)) + "\n")
    (out / "routers.json").write_text(
        json.dumps(
            {"note": QUALITY_NOTE, "test_blocks": len(test), "routers": [r.to_json() for r in results],
             "curves": summary}, indent=2,
        ) + "\n"
    )  # fmt: skip
    plot(out, results, curves)
    print(f"wrote {out / 'table.jsonl'}, {out / 'routers.json'}, {out / 'cost_quality.png'}, "
          f"{out / 'pgr_curve.png'}")  # fmt: skip
    print(QUALITY_NOTE)


def plot(out: Path, results: list[Replay], curves: Curves) -> None:
    axes = curve_axes(curves, lambda point: (point.replay.cost, point.replay.quality))
    for result in results:
        axes.scatter([result.cost], [result.quality], marker="x")
        axes.annotate(result.router, (result.cost, result.quality), fontsize=6)
    axes.set_xlabel("US$ per block (test split)")
    axes.set_ylabel("mean block quality")
    axes.set_title("Cost and quality per router (sandbox quality model, ASSUMED rates)")
    save(axes, out / "cost_quality.png")
    axes = curve_axes(curves, lambda point: (point.replay.strong_share, point.replay.pgr))
    axes.set_xlabel("share of blocks sent to the strong tier")
    axes.set_ylabel("PGR (performance gap recovered)")
    axes.set_title("PGR against strong calls (held-out split)")
    save(axes, out / "pgr_curve.png")


def curve_axes(curves: Curves, xy: Callable[[CurvePoint], tuple[float, float | None]]) -> Any:
    """A new figure with one line per router's curve, each point placed by ``xy``."""
    _, axes = pyplot.subplots(figsize=(7, 5))
    for name, points in curves.items():
        placed = [xy(point) for point in points]
        axes.plot([x for x, _ in placed], [y for _, y in placed], marker=".", label=name)
    return axes


def save(axes: Any, path: Path) -> None:
    axes.legend(fontsize=7)
    axes.figure.tight_layout()
    axes.figure.savefig(path, dpi=100)
    pyplot.close(axes.figure)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=150)
    parser.add_argument("--pack-size", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    measured = anyio.run(measure, arguments.limit, arguments.pack_size, arguments.seed)
    report(arguments.out, *measured)
    sys.exit(0)
