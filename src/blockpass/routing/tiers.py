"""Tiers: the models a routed run may use, weakest (cheapest) first, and each block's tier.

``--tiers claude-haiku-4-5,claude-sonnet-4-5`` names models of the run's vendor; a tier may
name its own vendor (``local:`` as the cheapest tier of a hosted run). Each tier is a lane
(``lanes.Lane``): its own cached prefix, packs, fingerprint and ledger rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from blockpass.blocks import Block
from blockpass.deterministic import RuleCheck
from blockpass.documents import Inputs
from blockpass.errors import UserInputError
from blockpass.lanes import Lane, Lanes
from blockpass.prefilter import PrefilterSettings, prefilter
from blockpass.providers import Connection, Provider, parse_connection
from blockpass.routing.heuristic import BlockFeatures, heuristic_tier

__all__ = ["RouteMode", "Routes", "heuristic_routes", "parse_tiers", "routed_lanes"]


class RouteMode(StrEnum):
    OFF = "off"
    HEURISTIC = "heuristic"
    CLASSIFY = "classify"


def parse_tiers(vendor: str, text: str) -> tuple[Connection, ...]:
    """``"model,model"`` (or ``"vendor:model"`` items) as connections, weakest first."""
    names = [name.strip() for name in text.split(",")]
    if not text.strip() or not all(names):
        raise UserInputError(f"--tiers {text!r}: name at least two models, comma-separated")
    tiers = tuple(parse_connection(name if ":" in name else f"{vendor}:{name}") for name in names)
    if len(tiers) < 2:
        raise UserInputError(f"--tiers {text!r}: routing needs two tiers or more")
    ids = [tier.profile.id for tier in tiers]
    if len(set(ids)) != len(ids):
        raise UserInputError(f"--tiers {text!r}: a model is named twice")
    return tiers


@dataclass(frozen=True, slots=True, kw_only=True)
class Routes:
    """Each block's tier (0 the weakest) and why: the features it was routed on."""

    tiers: int
    tier_of: Mapping[str, int]
    features: Mapping[str, BlockFeatures]

    def counts(self) -> list[int]:
        counts = [0] * self.tiers
        for tier in self.tier_of.values():
            counts[tier] += 1
        return counts


def heuristic_routes(
    inputs: Inputs,
    blocks: Sequence[Block],
    check: RuleCheck | None,
    tiers: int,
    prefiltering: PrefilterSettings,
) -> Routes:
    """The free first pass over the blocks the pre-filter keeps (the others make no call)."""
    kept, _ = prefilter(list(blocks), prefiltering)
    wanted = {block.id for block in kept}
    alerts = check.alerts(inputs.documents, wanted) if check is not None else {}
    features = {block.id: BlockFeatures.of(block, alerts.get(block.id, ())) for block in kept}
    return Routes(
        tiers=tiers,
        tier_of={block_id: heuristic_tier(found, tiers) for block_id, found in features.items()},
        features=features,
    )


def routed_lanes(providers: Sequence[Provider], routes: Mapping[str, int]) -> Lanes:
    """Lanes for the tiers' providers (weakest first); a block the routes do not name goes
    to the strongest (a block that changed since they were made, on a resumed run)."""
    lanes = tuple(Lane(provider) for provider in providers)
    names = [lane.name for lane in lanes]

    def route(block: Block) -> str:
        return names[routes.get(block.id, len(names) - 1)]

    return Lanes(lanes=lanes, route=route)
