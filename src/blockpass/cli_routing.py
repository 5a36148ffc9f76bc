"""`run` and `estimate`'s routing options (``--tiers``, ``--route``) and what they open.

``--route off`` (the default) is a run of one lane, the ``--provider``/``--model`` one.
``--route heuristic`` needs ``--tiers``: models of the run's vendor, weakest first (an item
may name its own vendor, ``local:`` for a local cheapest tier). A sandbox run serves one
sandbox that answers every tier's model.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from blockpass.errors import UserInputError

if TYPE_CHECKING:
    from blockpass.job_outcome import JobOutcome
    from blockpass.pipeline import JobSpec
    from blockpass.prices import PriceTable
    from blockpass.providers import Connection, Provider
    from blockpass.routing.runner import JobListeners
    from blockpass.store import RunStore

# Parsed before the library is imported: the command line starts fast.
ROUTE_MODES = ("off", "heuristic", "classify")

__all__ = [
    "add_routing_arguments",
    "estimate_lines",
    "quality_warning",
    "run_tiers",
    "tiers",
]


def add_routing_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tiers",
        help="models to route between, weakest first, comma-separated "
        "(e.g. claude-haiku-4-5,claude-sonnet-4-5; vendor:model for another vendor)",
    )
    parser.add_argument(
        "--route",
        choices=ROUTE_MODES,
        default=ROUTE_MODES[0],
        help="off: every block to --model; heuristic: a tier per block from its kind, "
        "length, sentence spread, markup, code and rule hits; classify: the first tier's "
        "model names each block's tier (many blocks per call); with either, doubtful weak "
        "answers go again to the last tier",
    )


def tiers(args: argparse.Namespace, connection: Connection) -> tuple[Connection, ...]:
    """The run's tiers: just its connection when routing is off."""
    from blockpass.routing.tiers import RouteMode, parse_tiers

    if RouteMode(args.route) is RouteMode.OFF:
        if args.tiers:
            raise UserInputError("--tiers routes blocks: give --route heuristic too")
        return (connection,)
    if not args.tiers:
        raise UserInputError(f"--route {args.route} needs --tiers (weakest first)")
    return parse_tiers(connection.vendor, args.tiers)


async def run_tiers(
    spec: JobSpec,
    providers: list[Provider],
    prices: PriceTable,
    listeners: JobListeners,
    route: str,
    *,
    store: RunStore | None = None,
) -> tuple[JobOutcome, list[str]]:
    """The job on one provider, or routed over the tiers; the routing report's lines.
    ``store``: the run's store (None: the run directory's own)."""
    from blockpass.pipeline import run_job
    from blockpass.routing.runner import run_routed
    from blockpass.routing.tiers import RouteMode

    if len(providers) == 1:
        arguments = listeners.as_arguments()
        return await run_job(spec, providers[0], prices, store=store, **arguments), []
    routed = await run_routed(
        spec, providers, prices, mode=RouteMode(route), listeners=listeners, store=store
    )
    return routed.outcome, routed.report.lines()


def quality_warning(args: argparse.Namespace) -> list[str]:
    """The line every report made with the sandbox's quality model carries."""
    if not getattr(args, "sandbox_quality", False):
        return []
    return [
        "note: the sandbox's quality model is on: cheaper tiers miss findings at ASSUMED "
        "rates (sandbox/quality.py), not measured ones"
    ]


def estimate_lines(spec: JobSpec, chosen: tuple[Connection, ...], prices: PriceTable) -> list[str]:
    if len(chosen) == 1:
        return []
    from blockpass.routing.forecast import routing_rows

    rows = routing_rows(spec, [tier.profile for tier in chosen], prices)
    heading = (
        "routing (tiers as the heuristic places them; escalations and a classify pass's "
        "own calls are known only from answers):"
    )
    return [heading, *(row.line() for row in rows)]
