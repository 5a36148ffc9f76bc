"""A routed distributed run's report per tier (`blockpass status`) and its ``routing.json``
(`blockpass report`), from the store and the routing `submit` kept (`routes.py`): what
`routing/runner.py` prints and writes at the end of a routed `run`.

All-strong is priced as `run` prices it (`estimate.forecast_packs` over the strongest
tier's figures of the blocks a call answered, distinct texts in input order); the figures
were counted at submit, where the blocks' texts and the rule engine's findings were at hand.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.estimate import forecast_packs
from blockpass.execution.packwork import ExecutionSettings
from blockpass.prices import PriceTable
from blockpass.reuse import plan_reuse
from blockpass.routing.report import TierReport, tier_report
from blockpass.routing.runner import ROUTING_FILE
from blockpass.store import RunStore
from blockpass.task import Task
from blockpass.workers.routes import RunRoutes

__all__ = ["routed_report", "write_routing"]


async def routed_report(
    store: RunStore,
    routes: RunRoutes,
    blocks: Sequence[Block],
    task: Task,
    prices: PriceTable,
    execution: ExecutionSettings,
) -> TierReport:
    """The run's tiers so far; ``blocks``: the run's blocks in input order."""
    results = await store.results()
    return await tier_report(
        store,
        routes.lanes,
        task,
        prices,
        escalated=routes.escalated or {},
        all_strong=_all_strong(routes, blocks, results, prices, execution),
        unanswered=routes.unanswered,
        asked=routes.asked,
        not_asked=routes.not_asked,
    )


def write_routing(out_dir: Path, report: TierReport, routes: RunRoutes) -> None:
    (out_dir / ROUTING_FILE).write_text(
        json.dumps(report.to_json(routes.routes()), indent=2) + "\n", encoding="utf-8"
    )


def _all_strong(
    routes: RunRoutes,
    blocks: Sequence[Block],
    results: dict[str, BlockResult],
    prices: PriceTable,
    execution: ExecutionSettings,
) -> Decimal:
    answered = {
        result.block_id
        for result in results.values()
        if result.call_id is not None and result.outcome is Outcome.RESULT
    }
    kept = [
        block
        for block in blocks
        if (result := results.get(block.id)) is None or result.outcome is not Outcome.SKIPPED
    ]
    chosen = [
        routes.strong_figures[block.id]
        for block in plan_reuse(kept).to_send
        if block.id in answered and block.id in routes.strong_figures
    ]
    rows = forecast_packs(
        routes.strong_prefix,
        [tokens for tokens, _ in chosen],
        [output for _, output in chosen],
        routes.lanes[-1].profile,
        prices,
        execution.min_blocks,
        execution.max_blocks,
    )
    return rows[-1].cost.total
