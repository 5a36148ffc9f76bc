"""The sweep: every labelled suite through ``run_job`` once per model, mode and pack size.

Each cell is a real job (packing, layout, the pack format, parsing, retries: nothing is
stubbed), in a run directory of its own so no cell reuses another's results, with the packs
held to the cell's size (``min_blocks = max_blocks``). The blocks go in as one JSONL file,
shuffled with the seed so that every source lands at every position; the guide is the
suite's rules (``labelled.suite_guide``). A block's pack size and position are read from the
stored call that produced its result (a pack cut smaller after a bad answer counts at the
size it was answered in), and a block that an answered call carried without giving it a
result counts an id failure at that call. A block the pre-filter keeps from the model is
counted apart, not scored.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

import anyio

from blockpass.blocks import Outcome
from blockpass.evaluation.labelled import LabelledBlock, Suite, suite_guide
from blockpass.evaluation.scoring import BlockScore, score_block
from blockpass.execution.batch import BatchSettings
from blockpass.execution.lane_runs import Mode
from blockpass.execution.packwork import ExecutionSettings
from blockpass.ledger import cost
from blockpass.pipeline import JobSpec, run_job
from blockpass.prices import PriceTable
from blockpass.providers import Connection, Provider
from blockpass.store import open_sqlite_store

__all__ = ["Cell", "CellRun", "OpenProvider", "SweepPlan", "run_cell", "run_sweep"]

# The realtime default's packs: the sweep's sizes are about quality, not cost.
PACK_SIZES = (1, 5, 10, 20, 40, 80)
# An answered call: its answer was read (an error or a rejected request carried no answer).
_ANSWERED = frozenset({"ok", "malformed", "truncated", "refused"})

OpenProvider = Callable[[Connection, Suite], AbstractAsyncContextManager[Provider]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    model: str
    mode: Mode
    pack_size: int

    @property
    def name(self) -> str:
        return f"{self.model}-{self.mode.value}-{self.pack_size}"


@dataclass(frozen=True, slots=True, kw_only=True)
class CellRun:
    """One suite through one cell: each block's score, what the run paid, what went wrong."""

    cell: Cell
    suite: str
    scores: tuple[BlockScore, ...]
    # Blocks the pre-filter kept from the model (too few letters, a skipped kind): not scored.
    skipped: int
    cost: Decimal
    calls: int
    # The run's execution counts (malformed and truncated answers, unknown, duplicate and
    # missing ids, rejected edits, failed blocks, ...).
    stats: dict[str, int]

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.cell.model,
            "mode": self.cell.mode.value,
            "pack_size": self.cell.pack_size,
            "suite": self.suite,
            "skipped": self.skipped,
            "cost": str(self.cost),
            "calls": self.calls,
            "stats": self.stats,
            "blocks": [asdict(score) for score in self.scores],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SweepPlan:
    models: tuple[Connection, ...]
    modes: tuple[Mode, ...] = (Mode.REALTIME,)
    pack_sizes: tuple[int, ...] = PACK_SIZES
    seed: int = 0
    # How many of a suite's blocks to take (drawn with the seed); None: all of them.
    limit: int | None = None
    # First wait between batch polls (s): short against a sandbox, minutes against an API.
    poll_initial: float = 5.0


def sample(suite: Suite, limit: int | None, seed: int) -> list[LabelledBlock]:
    cases = list(suite.cases)
    random.Random(seed).shuffle(cases)
    return cases if limit is None else cases[:limit]


async def run_cell(
    suite: Suite,
    cases: Sequence[LabelledBlock],
    provider: Provider,
    prices: PriceTable,
    *,
    cell: Cell,
    folder: Path,
    poll_initial: float = 5.0,
) -> CellRun:
    """``cases`` through ``provider`` in packs of ``cell.pack_size``, in ``folder`` (new)."""
    blocks, guide = await anyio.to_thread.run_sync(_write_inputs, suite, cases, folder)
    size = cell.pack_size
    spec = JobSpec(
        inputs=[blocks],
        guide=guide,
        out_dir=folder / "run",
        execution=ExecutionSettings(min_blocks=size, max_blocks=size),
        mode=cell.mode,
        batch=BatchSettings(max_blocks=size, poll_initial=poll_initial),
        batch_threshold=1,
    )
    outcome = await run_job(spec, provider, prices)
    store = await open_sqlite_store(spec.out_dir)
    try:
        results = await store.results()
        calls = await store.calls()
    finally:
        await store.close()
    by_case = {block_id.rpartition("#")[2]: result for block_id, result in results.items()}
    placed: dict[str, tuple[int, int]] = {}
    id_failures: dict[str, int] = {}
    costs: dict[str, float] = {}
    for call in sorted(calls, key=lambda call: call.id or 0):
        if call.status in _ANSWERED:
            paid = cost(call.usage, prices.for_model(call.model), batch=call.batch).total
            share = float(paid) / max(len(call.block_ids), 1)
        for position, block_id in enumerate(call.block_ids):
            case_id = block_id.rpartition("#")[2]
            if call.status in _ANSWERED:
                costs[case_id] = costs.get(case_id, 0.0) + share
            result = by_case.get(case_id)
            if result is not None and result.call_id == call.id:
                placed[case_id] = (len(call.block_ids), position)
            elif call.status == "ok":
                id_failures[case_id] = id_failures.get(case_id, 0) + 1
    scores = []
    skipped = 0
    for case in cases:
        result = by_case.get(case.id)
        if result is not None and result.outcome is Outcome.SKIPPED:
            skipped += 1
            continue
        size_and_position = placed.get(case.id, (0, 0))
        scores.append(
            score_block(
                case,
                result,
                suite.rule_ids,
                pack_size=size_and_position[0],
                position=size_and_position[1],
                id_failures=id_failures.get(case.id, 0),
                cost=costs.get(case.id, 0.0),
            )
        )
    return CellRun(
        cell=cell,
        suite=suite.name,
        scores=tuple(scores),
        skipped=skipped,
        cost=outcome.report.actual.total,
        calls=sum(1 for call in calls if call.status in _ANSWERED),
        stats=asdict(outcome.stats),
    )


def _write_inputs(suite: Suite, cases: Sequence[LabelledBlock], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True)
    blocks = folder / "blocks.jsonl"
    lines = (
        json.dumps({"id": case.id, "kind": case.kind.value, "text": case.text}) + "\n"
        for case in cases
    )
    blocks.write_text("".join(lines), "utf-8")
    guide = folder / "guide.md"
    guide.write_text(suite_guide(suite), "utf-8")
    return blocks, guide


async def run_sweep(
    suites: Sequence[Suite],
    plan: SweepPlan,
    open_provider: OpenProvider,
    prices: PriceTable,
    work_dir: Path,
    *,
    on_cell: Callable[[CellRun], None] = lambda run: None,
) -> list[CellRun]:
    """Every suite through every cell of ``plan``; one provider per model and suite."""
    runs = []
    for connection in plan.models:
        for suite in suites:
            cases = sample(suite, plan.limit, plan.seed)
            async with open_provider(connection, suite) as provider:
                for mode in plan.modes:
                    for size in plan.pack_sizes:
                        cell = Cell(model=connection.profile.id, mode=mode, pack_size=size)
                        run = await run_cell(
                            suite, cases, provider, prices, cell=cell,
                            folder=work_dir / cell.name / suite.name,
                            poll_initial=plan.poll_initial,
                        )  # fmt: skip
                        on_cell(run)
                        runs.append(run)
    return runs
