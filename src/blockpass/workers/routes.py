"""A routed run's tiers in a distributed run (`blockpass submit --tiers --route`): what the
submitter decides, and what it keeps in ``blockpass_routes`` for the workers and `report`.

Routing happens at submit, the heuristic and the classify pass alike, because `run` routes
before it plans: packs are planned per tier, so every block's tier is known before any pack
exists (as retrieval is done at submit). The classify pass is one model's few calls over the
unsettled blocks (`routing/economics.py` keeps it under a tenth of what it can save); they
are recorded in the store as `run` records them. Each tier is a lane of its own: its
provider, profile, cached prefix, fingerprint and packs; a pack job names its tier.

After the tiers' packs, one escalation job (`escalation.py`) sends the weak tiers' doubtful
answers to the strongest tier, as `run`'s second pass does, and records which and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

from psycopg.types.json import Jsonb

from blockpass.blocks import Block
from blockpass.deterministic import RuleCheck
from blockpass.documents import Inputs
from blockpass.estimate import BlockFigures
from blockpass.lanes import lane_name
from blockpass.pipeline import JobSpec
from blockpass.prices import PriceTable
from blockpass.providers import Connection, Provider, parse_connection
from blockpass.providers.base import ModelProfile
from blockpass.routing.classify import Classified
from blockpass.routing.runner import classify_routes
from blockpass.routing.tiers import RouteMode, Routes, heuristic_routes
from blockpass.store import RunStore
from blockpass.task import Task
from blockpass.workers.queue import connect

__all__ = [
    "RunRoutes",
    "TierChoice",
    "TierLane",
    "load_routes",
    "route_submission",
    "save_escalated",
    "save_routes",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class TierChoice:
    """What `submit` is asked: the tiers (weakest first), the router, the classify pass's
    model (None: the weakest tier's) and how the submitter opens it."""

    connections: tuple[Connection, ...]
    route: RouteMode
    connect: Callable[[Connection], AbstractAsyncContextManager[Provider]]
    classifier: Connection | None = None


@dataclass(frozen=True, slots=True)
class TierLane:
    """A submitted tier: its connection ("vendor:model"), lane name and profile."""

    connection: str
    name: str
    profile: ModelProfile

    @classmethod
    def of(cls, connection: str) -> TierLane:
        parsed = parse_connection(connection)
        return cls(connection, lane_name(parsed.vendor, parsed.profile), parsed.profile)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRoutes:
    """A routed run's routing as stored."""

    tiers: tuple[str, ...]
    route: RouteMode
    tier_of: Mapping[str, int]
    unanswered: int = 0
    asked: int = 0
    not_asked: int = 0
    # The strongest tier's forecast figures of every block sent (prefix tokens; each block's
    # tokens and estimated output): `report` prices all-strong on them as `run` does.
    strong_prefix: int = 0
    strong_figures: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    # Escalated block ids and why, once the escalation job has run (None before).
    escalated: Mapping[str, str] | None = None

    @property
    def lanes(self) -> tuple[TierLane, ...]:
        return tuple(TierLane.of(tier) for tier in self.tiers)

    def lane_of(self, block_id: str) -> str:
        """The tier a block was routed to; a block the routes do not name (its text
        changed since) goes to the strongest, as `routing.tiers.routed_lanes` sends it."""
        return self.tiers[self.tier_of.get(block_id, len(self.tiers) - 1)]

    def routes(self) -> Routes:
        return Routes(tiers=len(self.tiers), tier_of=self.tier_of, features={})

    @classmethod
    def decided(
        cls,
        choice: TierChoice,
        routing: tuple[Routes, Classified | None, int],
        strong: BlockFigures,
        sent: Sequence[Block],
    ) -> RunRoutes:
        """What ``route_submission`` decided, with the strongest tier's figures of the
        blocks ``sent``."""
        routes, classified, not_asked = routing
        return cls(
            tiers=tuple(f"{tier.vendor}:{tier.profile.id}" for tier in choice.connections),
            route=choice.route,
            tier_of=dict(routes.tier_of),
            unanswered=classified.unanswered if classified else 0,
            asked=len(classified.tier_of) if classified else 0,
            not_asked=not_asked,
            strong_prefix=strong.prefix,
            strong_figures={
                block.id: (tokens, output)
                for block, tokens, output in zip(sent, strong.tokens, strong.outputs, strict=True)
            },
        )


async def route_submission(
    choice: TierChoice,
    spec: JobSpec,
    read: tuple[Inputs, Sequence[Block], Task, RuleCheck | None],
    store: RunStore,
    prices: PriceTable,
) -> tuple[Routes, Classified | None, int]:
    """Every block's tier as `run` routes it (``read``: the job's inputs as read), the
    classify pass's answer and the unsettled blocks it was not asked about."""
    inputs, blocks, task, check = read
    tiers = len(choice.connections)
    routes = heuristic_routes(inputs, blocks, check, tiers, spec.prefilter)
    if choice.route is not RouteMode.CLASSIFY:
        return routes, None, 0
    async with choice.connect(choice.classifier or choice.connections[0]) as classifier:
        classified, not_asked = await classify_routes(
            routes, blocks, task, store, [tier.profile for tier in choice.connections], prices,
            max_blocks=spec.execution.max_blocks, classifier=classifier,
        )  # fmt: skip
    tier_of = {**routes.tier_of, **classified.tier_of}
    return Routes(tiers=tiers, tier_of=tier_of, features=routes.features), classified, not_asked


async def save_routes(url: str, run: str, routes: RunRoutes | None) -> None:
    """The run's routing (None: the run is not routed; an earlier routing is dropped)."""
    async with await connect(url) as connection:
        await connection.execute("DELETE FROM blockpass_routes WHERE run = %s", (run,))
        if routes is None:
            return
        await connection.execute(
            "INSERT INTO blockpass_routes (run, tiers, route, tier_of, classify, strong)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            (
                run,
                list(routes.tiers),
                routes.route.value,
                Jsonb(dict(routes.tier_of)),
                Jsonb(
                    {
                        "unanswered": routes.unanswered,
                        "asked": routes.asked,
                        "not_asked": routes.not_asked,
                    }
                ),
                Jsonb(
                    {
                        "prefix": routes.strong_prefix,
                        "blocks": {key: list(pair) for key, pair in routes.strong_figures.items()},
                    }
                ),
            ),
        )


async def save_escalated(url: str, run: str, escalated: Mapping[str, str]) -> None:
    async with await connect(url) as connection:
        await connection.execute(
            "UPDATE blockpass_routes SET escalated = %s WHERE run = %s",
            (Jsonb(dict(escalated)), run),
        )


async def load_routes(url: str, run: str) -> RunRoutes | None:
    """The run's routing; None for a run of one model."""
    async with await connect(url) as connection:
        cursor = await connection.execute(
            "SELECT tiers, route, tier_of, classify, strong, escalated FROM blockpass_routes"
            " WHERE run = %s",
            (run,),
        )
        row = await cursor.fetchone()
    if row is None:
        return None
    tiers, route, tier_of, classify, strong, escalated = row
    counts: dict[str, Any] = classify
    return RunRoutes(
        tiers=tuple(tiers),
        route=RouteMode(route),
        tier_of=tier_of,
        unanswered=counts["unanswered"],
        asked=counts["asked"],
        not_asked=counts["not_asked"],
        strong_prefix=strong["prefix"],
        strong_figures={key: (pair[0], pair[1]) for key, pair in strong["blocks"].items()},
        escalated=escalated,
    )
