"""The free first pass: tiers from features known before any call, on the Rust book."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.blocks import Block, BlockKind
from blockpass.deterministic import RuleCheck
from blockpass.documents import read_inputs
from blockpass.prefilter import PrefilterSettings
from blockpass.routing import BlockFeatures, Routes, heuristic_routes, heuristic_tier
from blockpass.rules import load_styles

CHAPTER = "corpora/rust-book/ch03-01-variables-and-mutability.md"


def routes_for(shared_data: Path, tiers: int = 2) -> tuple[Routes, dict[str, Block]]:
    inputs = read_inputs([shared_data / CHAPTER])
    blocks = [block for document in inputs.documents for block in document.blocks]
    check = RuleCheck(load_styles([shared_data / "styles" / "Google" / "Google"]))
    routes = heuristic_routes(inputs, blocks, check, tiers, PrefilterSettings())
    return routes, {block.id: block for block in blocks}


def features(**changed: object) -> BlockFeatures:
    plain: dict[str, object] = {
        "kind": BlockKind.PARAGRAPH,
        "words": 20,
        "sentence_spread": 0.0,
        "markup_share": 0.0,
        "code_share": 0.0,
        "rule_weight": 0.0,
    }
    return BlockFeatures(**{**plain, **changed})  # type: ignore[arg-type]


def test_the_rust_book_chapter_is_split_between_both_tiers_and_code_is_never_routed(
    shared_data: Path,
) -> None:
    routes, blocks = routes_for(shared_data)

    weak, strong = routes.counts()
    assert weak > strong > 0
    # The pre-filter skips code blocks: they make no call, so they get no tier.
    assert all(blocks[block_id].kind is not BlockKind.CODE for block_id in routes.tier_of)


def test_headings_of_the_rust_book_go_to_the_weakest_tier(shared_data: Path) -> None:
    routes, blocks = routes_for(shared_data)

    headings = [block_id for block_id in routes.tier_of if blocks[block_id].kind == "heading"]
    assert headings
    assert all(routes.tier_of[block_id] == 0 for block_id in headings)


def test_the_chapters_long_paragraphs_with_rule_hits_go_to_the_strong_tier(
    shared_data: Path,
) -> None:
    routes, blocks = routes_for(shared_data)

    hard = [
        block_id
        for block_id, found in routes.features.items()
        if found.words > 60 and found.rule_weight >= 2
    ]
    assert hard
    assert all(routes.tier_of[block_id] == 1 for block_id in hard)
    # A short paragraph with no hit, no markup and no code stays on the weak tier.
    easy = [
        block_id
        for block_id, found in routes.features.items()
        if found.score() == 0 and blocks[block_id].kind == "paragraph"
    ]
    assert easy
    assert all(routes.tier_of[block_id] == 0 for block_id in easy)


def test_features_are_measured_from_the_text_with_inline_code_counted_apart() -> None:
    block = Block.create(
        document_id="a.md",
        index=0,
        kind=BlockKind.PARAGRAPH,
        text="Run `cargo build --release` now. Then read [the book](https://x.y) twice "
        "before you go on with the rest of it.",
    )

    found = BlockFeatures.of(block)

    assert found.words == 19
    assert found.code_share == pytest.approx(len("`cargo build --release`") / len(block.text))
    # Two sentences: 2 words and 17 (the link target counts its words too).
    assert found.sentence_spread == pytest.approx((17 - 2) / 2)
    assert found.rule_weight == 0.0


@pytest.mark.parametrize(
    ("changed", "tier"),
    [
        ({}, 0),
        ({"words": 61}, 0),
        ({"words": 151}, 1),
        ({"words": 61, "sentence_spread": 9.0}, 1),
        ({"markup_share": 0.06, "code_share": 0.2}, 1),
        ({"rule_weight": 2.0}, 0),
        ({"rule_weight": 4.0}, 1),
        ({"kind": BlockKind.HEADING, "rule_weight": 4.0}, 0),
        ({"kind": BlockKind.TABLE, "words": 61}, 1),
    ],
)
def test_each_documented_threshold_moves_a_block_between_two_tiers(
    changed: dict[str, object], tier: int
) -> None:
    assert heuristic_tier(features(**changed), 2) == tier


def test_with_three_tiers_every_two_points_is_one_tier_up_and_the_top_is_a_cap() -> None:
    assert heuristic_tier(features(words=151), 3) == 1
    assert heuristic_tier(features(words=151, rule_weight=4.0), 3) == 2
    assert heuristic_tier(features(words=151, rule_weight=4.0, code_share=0.5), 3) == 2
    assert heuristic_tier(features(kind=BlockKind.HEADING), 3) == 0


def test_the_heuristic_settles_blocks_with_no_point_or_far_past_the_strong_threshold() -> None:
    assert features().settled(2)
    assert features(kind=BlockKind.HEADING).settled(2)
    assert not features(words=61).settled(2)
    assert not features(words=151, rule_weight=2.0).settled(2)
    assert features(words=151, rule_weight=4.0).settled(2)
    # With three tiers the strongest's threshold is 4 points: settled from 6.
    assert not features(words=151, rule_weight=4.0).settled(3)
