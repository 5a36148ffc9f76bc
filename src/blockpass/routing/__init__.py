"""Model routing (#15): each block to the tier it needs, escalation of doubtful answers.

``tiers.py`` parses the tiers and routes blocks; ``heuristic.py`` is the free first pass on
features known before any call; ``runner.py`` runs a routed job with escalation;
``report.py`` prices it per tier against all-strong.
"""

from blockpass.routing.heuristic import BlockFeatures, heuristic_tier
from blockpass.routing.report import TierLine, TierReport, tier_report
from blockpass.routing.runner import RoutedOutcome, escalation_reason, run_routed
from blockpass.routing.tiers import RouteMode, Routes, heuristic_routes, parse_tiers, routed_lanes

__all__ = [
    "BlockFeatures",
    "RouteMode",
    "RoutedOutcome",
    "Routes",
    "TierLine",
    "TierReport",
    "escalation_reason",
    "heuristic_routes",
    "heuristic_tier",
    "parse_tiers",
    "routed_lanes",
    "run_routed",
    "tier_report",
]
