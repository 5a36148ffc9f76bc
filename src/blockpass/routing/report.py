"""A routed run's report: blocks and cost per tier, escalations, and the saving against
sending every block to the strongest tier.

All-strong is counted two ways. ``all_strong``: the estimate of the same blocks packed and
cached on the strongest model alone (one prefix, its packs; output estimated per block kind),
which the saving is against. ``repriced``: the run's recorded usage with every tier's calls
priced at the strongest model's card; it also pays each tier's own prefix, so it overstates
what all-strong would cost by those writes. The escalated blocks' weak calls stay in the
routed cost, paid for; the strong model would not have made them, so they count against
routing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from blockpass.blocks import Outcome
from blockpass.prices import PriceTable
from blockpass.providers.base import ModelProfile
from blockpass.routing.classify import CLASSIFY_PACK
from blockpass.routing.economics import ASK_RETURN
from blockpass.routing.tiers import Routes
from blockpass.run_costs import cost_report
from blockpass.store import CallRecord, RunStore
from blockpass.task import Task

__all__ = ["NamedLane", "TierLine", "TierReport", "tier_report"]


class NamedLane(Protocol):
    """A tier as its report needs it: a `lanes.Lane`, or a submitted run's tier."""

    @property
    def name(self) -> str: ...

    @property
    def profile(self) -> ModelProfile: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TierLine:
    model: str
    lane: str
    # Blocks whose standing result this tier's calls produced.
    blocks: int
    calls: int
    cost: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class TierReport:
    tiers: tuple[TierLine, ...]
    escalated: Mapping[str, str]
    cost: Decimal
    all_strong: Decimal
    repriced: Decimal
    # The classify pass's calls, apart from the tiers' (0 when routing by the heuristic).
    classify_calls: int = 0
    classify_cost: Decimal = Decimal(0)
    # The classify pass's model when it was not the weakest tier's ("" when it was).
    classifier: str = ""
    unanswered: int = 0
    # Blocks the pass was asked about, and the unsettled ones it was not: their answer could
    # not save ``economics.ASK_RETURN`` times what asking costs.
    asked: int = 0
    not_asked: int = 0

    @property
    def saving(self) -> Decimal:
        return self.all_strong - self.cost

    def lines(self) -> list[str]:
        rows = [
            f"tier {index} {line.model}: {line.blocks:,} blocks, {line.calls:,} calls, "
            f"${line.cost:.4f}"
            for index, line in enumerate(self.tiers)
        ]
        share = f" ({self.saving / self.all_strong:.0%})" if self.all_strong else ""
        classifier = self.classifier or self.tiers[0].model
        if self.classify_calls:
            rows.append(
                f"classify pass on {classifier}: {self.classify_calls:,} calls over "
                f"{self.asked:,} blocks, ${self.classify_cost:.4f}; {self.unanswered:,} blocks "
                "it did not place went to the strongest tier"
            )
        if self.not_asked:
            rows.append(
                f"classify pass: {self.not_asked:,} unsettled blocks not asked about (on "
                f"{classifier} an answer could not save {ASK_RETURN:.0f}x what asking "
                "costs): routed by the heuristic"
            )
        rows.append(f"escalated to {self.tiers[-1].model}: {len(self.escalated):,} blocks")
        rows.append(
            f"routed ${self.cost:.4f} against all-strong ${self.all_strong:.4f}: "
            f"saved ${self.saving:.4f}{share} (all-strong estimated on the same blocks; "
            f"this run's usage at {self.tiers[-1].model}'s prices: ${self.repriced:.4f})"
        )
        return rows

    def to_json(self, routes: Routes) -> dict[str, object]:
        return {
            "tiers": [
                {
                    "model": line.model,
                    "lane": line.lane,
                    "routed": routed,
                    "blocks": line.blocks,
                    "calls": line.calls,
                    "cost": str(line.cost),
                }
                for line, routed in zip(self.tiers, routes.counts(), strict=True)
            ],
            "classify": {
                "model": self.classifier or self.tiers[0].model,
                "calls": self.classify_calls,
                "cost": str(self.classify_cost),
                "unanswered": self.unanswered,
                "asked": self.asked,
                "not_asked": self.not_asked,
            },
            "escalated": dict(sorted(self.escalated.items())),
            "cost": str(self.cost),
            "all_strong": str(self.all_strong),
            "all_strong_repriced": str(self.repriced),
            "saving": str(self.saving),
        }


async def tier_report(
    store: RunStore,
    lanes: Sequence[NamedLane],
    task: Task,
    prices: PriceTable,
    *,
    escalated: Mapping[str, str],
    all_strong: Decimal,
    unanswered: int = 0,
    asked: int = 0,
    not_asked: int = 0,
) -> TierReport:
    calls = await store.calls()
    results = await store.results()
    blocks = await store.blocks()
    profiles = [lane.profile for lane in lanes]
    strongest = profiles[-1]
    as_strong = prices
    card = prices.for_model(strongest.id)
    for profile in profiles[:-1]:
        as_strong = as_strong.pricing(profile.id, card, f"{profile.id} priced as {strongest.id}")

    classify = [call for call in calls if call.pack_id.startswith(CLASSIFY_PACK)]
    answering = [call for call in calls if not call.pack_id.startswith(CLASSIFY_PACK)]

    def cost(model: str | None, table: PriceTable, among: Sequence[CallRecord]) -> Decimal:
        chosen = [call for call in among if model is None or call.model == model]
        report = cost_report(chosen, results, blocks, task, profiles, table, "routing")
        return report.actual.total

    lines = tuple(
        TierLine(
            model=lane.profile.id,
            lane=lane.name,
            blocks=sum(
                1 for result in results.values()
                if result.lane == lane.name and result.call_id is not None
                and result.outcome is Outcome.RESULT
            ),
            calls=sum(1 for call in answering if call.model == lane.profile.id),
            cost=cost(lane.profile.id, prices, answering),
        )
        for lane in lanes
    )  # fmt: skip
    return TierReport(
        tiers=lines,
        escalated=escalated,
        cost=cost(None, prices, calls),
        all_strong=all_strong,
        repriced=cost(None, as_strong, calls),
        classify_calls=len(classify),
        classify_cost=cost(None, prices, classify),
        classifier=next((c.model for c in classify if c.model != profiles[0].id), ""),
        unanswered=unanswered,
        asked=asked,
        not_asked=not_asked,
    )
