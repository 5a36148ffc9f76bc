"""The end of a job: every call the run directory holds priced, the outputs written, and
what this invocation did."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path

from blockpass.blocks import Block
from blockpass.breakdown import Breakdown, breakdown
from blockpass.context import ContextStats
from blockpass.context_choice import ContextChoice
from blockpass.documents import Inputs
from blockpass.execution.lane_runs import Mode
from blockpass.execution.ownership import possibly_ours
from blockpass.execution.stats import ExecutionStats
from blockpass.files import run_directory_errors
from blockpass.ledger import CostReport, WhatIf
from blockpass.outputs import Timing, write_outputs
from blockpass.prices import PriceTable
from blockpass.providers.base import ModelProfile
from blockpass.run_costs import PromptTokens, cost_report, what_if
from blockpass.store import RUN_FILE_NAME, RunStore, StoredBatch
from blockpass.task import Task

__all__ = ["ContextReport", "JobOutcome", "ThisRun", "finish_job"]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOutcome:
    report: CostReport
    breakdown: Breakdown
    stats: ExecutionStats
    outcomes: dict[str, int]
    out_dir: Path
    mode: Mode
    timing: Timing
    possibly_ours: tuple[str, ...] = ()
    this_run: ThisRun
    what_if: WhatIf | None = None
    context: ContextReport | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextReport:
    """What the requests carried of the guide, why, and what retrieval did."""

    choice: ContextChoice
    stats: ContextStats | None = None

    def to_json(self) -> dict[str, object]:
        stats = {} if self.stats is None else {"retrieval": self.stats.to_json()}
        return {**self.choice.to_json(), **stats}


@dataclass(frozen=True, slots=True, kw_only=True)
class ThisRun:
    """What this invocation did, apart from the report, which covers the whole run directory."""

    calls: int
    earlier_calls: int
    blocks: int
    already_done: int
    # This invocation's calls priced as the report prices them: the blocks they answered,
    # their cost, and one uncached call per block for those blocks.
    answered: int = 0
    actual: Decimal = Decimal(0)
    baseline: Decimal = Decimal(0)


async def finish_job(
    out_dir: Path,
    inputs: Inputs,
    blocks: list[Block],
    task: Task,
    profiles: Sequence[ModelProfile],
    prices: PriceTable,
    store: RunStore,
    *,
    served_by: str,
    mode: Mode,
    stats: ExecutionStats,
    started: float,
    earlier_calls: int,
    pending: list[Block],
    context: ContextReport | None = None,
) -> JobOutcome:
    """Price every call the run directory holds, write the outputs, and say what this
    invocation did. ``profiles``: the run's models, its first lane's first; ``served_by``:
    the providers that served them."""
    results = await store.results()
    calls = await store.calls()
    # Every block the run directory ever held: earlier invocations may have paid for blocks of
    # inputs this one no longer names.
    stored_blocks = await store.blocks()
    interrupted = await store.call_starts(open_only=True)
    report_for = partial(
        cost_report, calls, results, stored_blocks, task, profiles,
        served_by=served_by, interrupted=interrupted,
    )  # fmt: skip
    report = report_for(prices)
    # Savings are priced as the first lane's model: the one a run of one lane would use.
    first = PromptTokens.of(profiles[0], task)
    summary = breakdown(
        blocks,
        results,
        report,
        prefix_tokens=first.prefix,
        count=first.count,
        prices=prices.for_model(profiles[0].id),
    )
    batches = await store.batches()
    timing = _timing(started, batches)
    unproven = tuple(possibly_ours(batches))
    advice = (
        f"; every result is kept in {out_dir / RUN_FILE_NAME}: fix this and run the same "
        "command again, which sends no finished block again"
    )
    hypothetical = what_if(report_for, report, profiles, prices)
    with run_directory_errors("cannot write", advice):
        write_outputs(
            out_dir, inputs.documents, results, report, summary,
            mode=mode.value, timing=timing, possibly_ours=unproven,
            skipped_inputs=inputs.skipped, what_if=hypothetical,
            context=None if context is None else context.to_json(),
        )  # fmt: skip
    ours = cost_report(
        calls[earlier_calls:], results, stored_blocks, task, profiles, prices, served_by
    )
    return JobOutcome(
        report=report,
        breakdown=summary,
        stats=stats,
        outcomes=dict(Counter(result.outcome.value for result in results.values())),
        out_dir=out_dir,
        mode=mode,
        timing=timing,
        possibly_ours=unproven,
        this_run=ThisRun(
            calls=len(calls) - earlier_calls,
            earlier_calls=earlier_calls,
            blocks=len(blocks),
            already_done=len(blocks) - len(pending),
            answered=ours.blocks,
            actual=ours.actual.total,
            baseline=ours.baseline.total,
        ),
        what_if=hypothetical,
        context=context,
    )


def _timing(started: float, batches: Sequence[StoredBatch]) -> Timing:
    ran = [batch for batch in batches if batch.ended_at is not None]
    span = (
        max(batch.ended_at for batch in ran if batch.ended_at is not None)
        - min(batch.created_at for batch in ran)
        if ran
        else None
    )
    return Timing(
        wall_seconds=time.time() - started,
        batches=len(ran),
        batch_items=sum(len(batch.items) for batch in ran),
        batch_seconds=span,
    )
