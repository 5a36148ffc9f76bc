"""`blockpass estimate --route heuristic`: the routing rows under the strategy table.

Each tier's row is the packed, cached cost of the blocks the heuristic gives it, on its own
model; the all-strong row is every block on the strongest, packed the same way. No call is
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
    spec: JobSpec, tiers: Sequence[ModelProfile], prices: PriceTable
) -> list[RoutingRow]:
    """A row per tier, the routed total, and all-strong."""
    inputs, blocks, _, check = read_job_inputs(spec)
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
    strong = estimate_job(spec, tiers[-1], prices).rows[-1]
    routed = RoutingRow(
        label="routed",
        blocks=sum(row.blocks for row in rows),
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
