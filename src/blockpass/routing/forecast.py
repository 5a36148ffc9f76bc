"""`blockpass estimate --route heuristic|classify`: the routing rows under the strategy table.

Each tier's row is the packed, cached cost of the blocks the heuristic gives it, on its own
model; the all-strong row is every block on the strongest, packed the same way. With ``--route
classify`` a row says which blocks the classify pass would be asked about and what asking
costs at most (their tokens counted on the classifier, every one listed in the answer);
the tiers' rows keep the heuristic's tiers, since the answers are not known. No call is
made: escalations (known only from answers) are not forecast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from blockpass.estimate import estimate_job
from blockpass.pipeline import JobSpec, read_job_inputs
from blockpass.prices import PriceTable
from blockpass.providers.base import ModelProfile
from blockpass.routing.classify import BLOCKS_PER_CALL
from blockpass.routing.economics import TierCosts, worth_asking
from blockpass.routing.tiers import heuristic_routes

__all__ = ["RoutingRow", "routing_rows"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRow:
    label: str
    blocks: int
    calls: int
    cost: Decimal

    def line(self) -> str:
        return f"{self.label}: {self.blocks:,} blocks, {self.calls:,} calls, ${self.cost:.4f}"


def routing_rows(
    spec: JobSpec,
    tiers: Sequence[ModelProfile],
    prices: PriceTable,
    *,
    classifier: ModelProfile | None = None,
) -> list[RoutingRow]:
    """A row per tier, the classify pass's (given ``classifier``), the routed total, and
    all-strong."""
    inputs, blocks, task, check = read_job_inputs(spec)
    routes = heuristic_routes(inputs, blocks, check, len(tiers), spec.prefilter)
    rows = []
    for index, profile in enumerate(tiers):
        chosen = {block_id for block_id, tier in routes.tier_of.items() if tier == index}
        packed = estimate_job(spec, profile, prices, only=chosen).rows[-1]
        rows.append(
            RoutingRow(
                label=f"tier {index} {profile.id}",
                blocks=packed.blocks,
                calls=packed.calls,
                cost=packed.cost.total,
            )
        )
    if classifier is not None:
        unsettled = [
            block for block in blocks
            if block.id in routes.features and not routes.features[block.id].settled(len(tiers))
        ]  # fmt: skip
        costs = TierCosts.of(
            unsettled, tiers, prices, task, max_blocks=spec.execution.max_blocks,
            classifier=classifier,
        )  # fmt: skip
        asked = [block.id for block in unsettled if worth_asking(block.id, costs)]
        rows.append(
            RoutingRow(
                label=f"classify pass on {classifier.id} (at most)",
                blocks=len(asked),
                calls=-(-len(asked) // BLOCKS_PER_CALL),
                cost=Decimal(str(round(sum(costs.asking[block_id] for block_id in asked), 6))),
            )
        )
    strong = estimate_job(spec, tiers[-1], prices).rows[-1]
    routed = RoutingRow(
        label="routed",
        blocks=sum(row.blocks for row in rows[: len(tiers)]),
        calls=sum(row.calls for row in rows),
        cost=sum((row.cost for row in rows), Decimal(0)),
    )
    all_strong = RoutingRow(
        label=f"all-strong {tiers[-1].id}",
        blocks=strong.blocks,
        calls=strong.calls,
        cost=strong.cost.total,
    )
    return [*rows, routed, all_strong]
