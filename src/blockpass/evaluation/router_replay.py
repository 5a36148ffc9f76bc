"""RouterBench-style routing evaluation: every tier answers every block once, routers replay.

The table holds one row per (block, tier): what that tier's answer cost and how good it was
(``block_quality``: 1 for a block that expected nothing and got no wrong finding, else the
share of its findings right, ``tp / (tp + fp + fn)``). A router is a choice of tier per
block; replaying it reads each block's row for the chosen tier, so every router is judged on
the same answers, and a router's own cost (a classify pass) is added per block.

RouteLLM's metrics, with two tiers: a router's performance gap recovered is
``PGR = (Q(router) - Q(weak)) / (Q(strong) - Q(weak))``; a router with a score (the
heuristic's points, the classify pass's tier) traces a curve of PGR against the share of
blocks it sends to the strong tier as its threshold moves; ``APGR`` is the area under that
curve (strong share 0 to 1), and ``calls_for(target)`` the smallest strong share whose PGR
reaches the target (50%, 80% of the gap closed). Thresholds are set on a calibration split
(the score quantile that sends a given share there) and everything is measured on the
held-out split, so a router never grades itself on the blocks it was tuned on.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from blockpass.evaluation.scoring import BlockScore

__all__ = [
    "CurvePoint",
    "Replay",
    "TierRow",
    "apgr",
    "block_quality",
    "calls_for",
    "held_out",
    "random_choice",
    "replay",
    "threshold_curve",
]

WEAK, STRONG = 0, 1
SHARES = tuple(step / 20 for step in range(21))


@dataclass(frozen=True, slots=True, kw_only=True)
class TierRow:
    case_id: str
    tier: int
    model: str
    cost: float
    quality: float


def block_quality(score: BlockScore) -> float:
    if not score.answered:
        return 0.0
    judged = score.true_positives + score.false_positives + score.false_negatives
    return score.true_positives / judged if judged else 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    """A router's result on a set of blocks: means per block."""

    router: str
    blocks: int
    strong_share: float
    cost: float
    quality: float
    pgr: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "router": self.router,
            "blocks": self.blocks,
            "strong_share": self.strong_share,
            "cost_per_block": self.cost,
            "quality": self.quality,
            "pgr": self.pgr,
        }


def replay(
    router: str,
    table: Mapping[tuple[str, int], TierRow],
    choice: Mapping[str, int],
    cases: Sequence[str],
    *,
    overhead: Mapping[str, float] | None = None,
) -> Replay:
    """``choice`` (a tier per block) replayed on ``cases``; ``overhead``: the router's own
    cost per block (a classify pass), added to the tier's."""
    rows = [table[case, choice[case]] for case in cases]
    quality = sum(row.quality for row in rows) / len(rows)
    weak = sum(table[case, WEAK].quality for case in cases) / len(rows)
    strong = sum(table[case, STRONG].quality for case in cases) / len(rows)
    extra = sum((overhead or {}).get(case, 0.0) for case in cases)
    return Replay(
        router=router,
        blocks=len(rows),
        strong_share=sum(1 for case in cases if choice[case] == STRONG) / len(rows),
        cost=(sum(row.cost for row in rows) + extra) / len(rows),
        quality=quality,
        pgr=(quality - weak) / (strong - weak) if strong != weak else None,
    )


def held_out(cases: Sequence[str], seed: int) -> tuple[list[str], list[str]]:
    """Calibration and test halves, by a seeded hash of each block's id (stable per block)."""

    def draw(case: str) -> int:
        return hashlib.sha256(f"{seed}\x00{case}".encode()).digest()[0]

    calibration = [case for case in cases if draw(case) % 2 == 0]
    return calibration, [case for case in cases if draw(case) % 2 == 1]


def random_choice(cases: Sequence[str], share: float, seed: int) -> dict[str, int]:
    """``share`` of ``cases`` to the strong tier, drawn with ``seed``."""
    strong = set(random.Random(seed).sample(list(cases), round(share * len(cases))))
    return {case: STRONG if case in strong else WEAK for case in cases}


@dataclass(frozen=True, slots=True, kw_only=True)
class CurvePoint:
    target_share: float
    replay: Replay


def threshold_curve(
    router: str,
    table: Mapping[tuple[str, int], TierRow],
    score: Mapping[str, float],
    calibration: Sequence[str],
    test: Sequence[str],
    *,
    overhead: Mapping[str, float] | None = None,
) -> list[CurvePoint]:
    """For each target share of strong calls, the score threshold that sends that share of
    the calibration blocks to the strong tier, applied to the test blocks (ties: a higher
    score is harder, so equal scores go together)."""
    ranked = sorted((score[case] for case in calibration), reverse=True)
    points = []
    for share in SHARES:
        count = round(share * len(ranked))
        threshold = ranked[count - 1] if count else float("inf")
        choice = {case: STRONG if score[case] >= threshold else WEAK for case in test}
        points.append(
            CurvePoint(
                target_share=share,
                replay=replay(router, table, choice, test, overhead=overhead),
            )
        )
    return points


def apgr(points: Sequence[Replay]) -> float | None:
    """The area under PGR against the strong share, the ends pinned at (0, 0) and (1, 1)."""
    curve = sorted({(p.strong_share, p.pgr) for p in points if p.pgr is not None})
    curve = [(0.0, 0.0), *curve, (1.0, 1.0)]
    best: dict[float, float] = {}
    for share, gain in curve:
        best[share] = max(gain, best.get(share, gain))
    ordered = sorted(best.items())
    if len(ordered) < 2:
        return None
    return sum(
        (right - left) * (low + high) / 2 for (left, low), (right, high) in pairwise(ordered)
    )


def calls_for(points: Sequence[Replay], target: float) -> float | None:
    """The smallest share of strong calls whose PGR reaches ``target``; None if none does."""
    reached = [p.strong_share for p in points if p.pgr is not None and p.pgr >= target]
    return min(reached) if reached else None
