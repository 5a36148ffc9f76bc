"""`run` and `estimate`'s routing options (``--tiers``, ``--route``) and what they open.

``--route off`` (the default) is a run of one lane, the ``--provider``/``--model`` one.
``--route heuristic`` needs ``--tiers``: models of the run's vendor, weakest first (an item
may name its own vendor, ``local:`` for a local cheapest tier). ``--route classify`` may name
the classify pass's model with ``--classifier`` (default: the first tier's), opened after the
tiers. A sandbox run serves one sandbox that answers every model.
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

# Parsed before the library is imported: the command line starts fast.
ROUTE_MODES = ("off", "heuristic", "classify")

__all__ = [
    "add_routing_arguments",
    "classifier",
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
    parser.add_argument(
        "--classifier",
        help="with --route classify: the model that names each block's tier (default: the "
        "first tier's; a model of the run's vendor, or vendor:model), e.g. a cheaper one",
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


def classifier(
    args: argparse.Namespace, connection: Connection, tiers: tuple[Connection, ...]
) -> Connection | None:
    """``--classifier``'s connection, None when the pass runs on the first tier's model."""
    from blockpass.routing.tiers import RouteMode

    if not args.classifier:
        return None
    if RouteMode(args.route) is not RouteMode.CLASSIFY:
        raise UserInputError(
            "--classifier names the classify pass's model: give --route classify too"
        )
    chosen = args.classifier.strip()
    if not chosen:
        raise UserInputError("--classifier: name a model (or vendor:model)")
    from blockpass.providers import parse_connection

    opened = parse_connection(chosen if ":" in chosen else f"{connection.vendor}:{chosen}")
    return None if opened == tiers[0] else opened


async def run_tiers(
    spec: JobSpec,
    providers: list[Provider],
    prices: PriceTable,
    listeners: JobListeners,
    route: str,
    *,
    tier_count: int,
) -> tuple[JobOutcome, list[str]]:
    """The job on one provider, or routed over the first ``tier_count`` providers (a
    classify pass on the one after them, if any); the routing report's lines."""
    from blockpass.pipeline import run_job
    from blockpass.routing.runner import run_routed
    from blockpass.routing.tiers import RouteMode

    if tier_count == 1:
        return await run_job(spec, providers[0], prices, **listeners.as_arguments()), []
    routed = await run_routed(
        spec, providers[:tier_count], prices, mode=RouteMode(route), listeners=listeners,
        classifier=providers[tier_count] if len(providers) > tier_count else None,
    )  # fmt: skip
    return routed.outcome, routed.report.lines()


def quality_warning(args: argparse.Namespace) -> list[str]:
    """The line every report made with the sandbox's quality model carries."""
    if not getattr(args, "sandbox_quality", False):
        return []
    return [
        "note: the sandbox's quality model is on: cheaper tiers miss findings at ASSUMED "
        "rates (sandbox/quality.py), not measured ones"
    ]


def estimate_lines(
    args: argparse.Namespace,
    spec: JobSpec,
    chosen: tuple[Connection, ...],
    prices: PriceTable,
    asking: Connection | None,
) -> list[str]:
    if len(chosen) == 1:
        return []
    from blockpass.routing.forecast import routing_rows
    from blockpass.routing.tiers import RouteMode

    classify = RouteMode(args.route) is RouteMode.CLASSIFY
    rows = routing_rows(
        spec, [tier.profile for tier in chosen], prices,
        classifier=(asking or chosen[0]).profile if classify else None,
    )  # fmt: skip
    heading = (
        "routing (tiers as the heuristic places them; escalations and the classify pass's "
        "tiers are known only from answers):"
    )
    return [heading, *(row.line() for row in rows)]
