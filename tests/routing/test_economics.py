"""What a block costs on each tier before any call, and the two decisions made from it."""

from __future__ import annotations

from pathlib import Path

from blockpass.blocks import BlockKind
from blockpass.prices import load_prices
from blockpass.providers import model_profile
from blockpass.routing import Routes
from blockpass.routing.economics import ASK_RETURN, TierCosts, worth_asking
from blockpass.task import load_task
from blockpass.verdicts import VerdictFormat
from tests.routing.test_heuristic import routes_for

GUIDE = "guides/18f-content-guide"
WEAK, STRONG, CHEAPER = "claude-haiku-4-5", "claude-sonnet-4-5", "claude-haiku-5-5"


def chapter_costs(
    shared_data: Path, *, weak: str = WEAK, max_blocks: int | None = None, classifier: str = ""
) -> tuple[Routes, TierCosts]:
    routes, blocks = routes_for(shared_data)
    costs = TierCosts.of(
        [blocks[block_id] for block_id in routes.tier_of],
        [model_profile(weak), model_profile(STRONG)],
        load_prices(),
        load_task(shared_data / GUIDE, verdicts=VerdictFormat.COMPACT),
        max_blocks=max_blocks,
        classifier=model_profile(classifier) if classifier else None,
    )
    return routes, costs


def test_the_classify_pass_asks_only_where_its_answer_can_save_ten_times_its_cost() -> None:
    costs = TierCosts(
        per_tier={"pays": (1.0, 3.0), "does-not": (1.0, 1.5), "weak-dearer": (3.0, 2.0)},
        asking={"pays": 0.2, "does-not": 0.2, "weak-dearer": 0.01},
    )

    assert ASK_RETURN == 10
    assert worth_asking("pays", costs)
    assert not worth_asking("does-not", costs)
    assert not worth_asking("weak-dearer", costs)


def test_a_block_costs_less_on_the_weak_tier_by_less_where_its_packs_are_small(
    shared_data: Path,
) -> None:
    # claude-haiku-4-5's measured bound is 10 blocks a pack, claude-sonnet-4-5's 80: the
    # weak tier reads the 18F prefix eight times as often per block.
    _, small = chapter_costs(shared_data)
    _, large = chapter_costs(shared_data, max_blocks=80)
    _, blocks = routes_for(shared_data)

    for block_id, (weak, strong) in small.per_tier.items():
        # Only the shortest headings (a few tokens, their tags one token each since the
        # pack framing got lean) cost more on the weak tier: their share of its prefix
        # reads, eight times as frequent, outweighs the strong tier's price on them.
        block = blocks[block_id]
        assert weak < strong or (block.kind is BlockKind.HEADING and len(block.text) < 30)
        assert weak - large.per_tier[block_id][0] > 0
        assert large.per_tier[block_id][1] == strong
    assert sum(weak < strong for weak, strong in small.per_tier.values()) >= 29


def test_a_classifier_a_tenth_the_price_is_worth_asking_about_the_long_blocks(
    shared_data: Path,
) -> None:
    routes, on_weakest = chapter_costs(shared_data, weak=CHEAPER)
    _, on_cheaper = chapter_costs(shared_data, weak=CHEAPER, classifier=CHEAPER)
    _, on_haiku = chapter_costs(shared_data, weak=CHEAPER, classifier=WEAK)

    asked = [block_id for block_id in routes.tier_of if worth_asking(block_id, on_cheaper)]
    assert asked
    assert all(on_cheaper.asking[b] < on_haiku.asking[b] / 5 for b in routes.tier_of)
    assert on_weakest.asking == on_cheaper.asking
    assert sum(1 for b in routes.tier_of if worth_asking(b, on_haiku)) < len(asked)
