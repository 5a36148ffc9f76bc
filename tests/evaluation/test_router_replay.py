from __future__ import annotations

import pytest

from blockpass.evaluation.router_replay import (
    STRONG,
    WEAK,
    TierRow,
    apgr,
    block_quality,
    calls_for,
    held_out,
    random_choice,
    replay,
    threshold_curve,
)
from blockpass.evaluation.scoring import BlockScore

# Four blocks: the weak tier gets the first two wrong; the strong tier gets all right at
# three times the price.
CASES = ["a", "b", "c", "d"]
TABLE = {
    **{
        (case, WEAK): TierRow(
            case_id=case, tier=WEAK, model="w", cost=1.0, quality=0.0 if case in "ab" else 1.0
        )
        for case in CASES
    },
    **{
        (case, STRONG): TierRow(case_id=case, tier=STRONG, model="s", cost=3.0, quality=1.0)
        for case in CASES
    },
}


def test_a_block_scores_the_share_of_its_findings_that_were_right() -> None:
    def scored(**counts: int) -> BlockScore:
        return BlockScore(case_id="x", source="t", answered=True, **counts)

    assert block_quality(scored()) == 1.0
    assert block_quality(scored(true_positives=1, false_negatives=1)) == 0.5
    assert block_quality(scored(false_positives=2)) == 0.0
    assert block_quality(BlockScore(case_id="x", source="t", answered=False)) == 0.0


def test_replaying_a_router_reads_each_blocks_row_for_the_tier_it_chose() -> None:
    chosen = {"a": STRONG, "b": WEAK, "c": WEAK, "d": WEAK}
    result = replay("r", TABLE, chosen, CASES, overhead={"a": 0.5})
    assert result.strong_share == 0.25
    assert result.cost == pytest.approx((3.0 + 1.0 + 1.0 + 1.0 + 0.5) / 4)
    assert result.quality == 0.75
    # Weak 0.5, strong 1.0: a quarter of the way up is half the gap.
    assert result.pgr == pytest.approx(0.5)


def test_a_perfect_scorer_closes_the_gap_with_the_fewest_strong_calls() -> None:
    perfect = {"a": 2.0, "b": 1.5, "c": 0.0, "d": 0.1}
    points = [p.replay for p in threshold_curve("p", TABLE, perfect, CASES, CASES)]
    assert calls_for(points, 0.5) == 0.25
    assert calls_for(points, 0.8) == 0.5
    backwards = {case: -value for case, value in perfect.items()}
    worst = [p.replay for p in threshold_curve("w", TABLE, backwards, CASES, CASES)]
    assert calls_for(worst, 0.5) == 0.75
    area, low = apgr(points), apgr(worst)
    assert area is not None
    assert low is not None
    assert area > 0.5 > low


def test_the_held_out_split_and_the_random_router_are_fixed_by_the_seed() -> None:
    cases = [f"case-{n}" for n in range(200)]
    calibration, test = held_out(cases, seed=1)
    assert sorted(calibration + test) == sorted(cases)
    assert 60 < len(test) < 140
    assert held_out(cases, seed=1) == (calibration, test)
    chosen = random_choice(test, 0.25, seed=3)
    assert sum(chosen.values()) == round(0.25 * len(test))
    assert random_choice(test, 0.25, seed=3) == chosen
