from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockpass.blocks import Block, BlockKind
from blockpass.errors import UserInputError
from blockpass.packing import (
    DEFAULT_HIT_TOKENS,
    OutputEstimator,
    PackLimits,
    block_input_tokens,
    fill_packs,
    plan_packs,
)
from blockpass.tokens import count_tokens


def blocks_of(texts: list[str], kind: BlockKind = BlockKind.PARAGRAPH) -> list[Block]:
    return [
        Block.create(document_id="doc.md", index=n, kind=kind, text=t) for n, t in enumerate(texts)
    ]


def plan(blocks: list[Block], limits: PackLimits, output: int = 40) -> list:  # type: ignore[type-arg]
    return plan_packs(
        blocks,
        limits,
        input_tokens=lambda block: block_input_tokens(block, count_tokens),
        estimate_output=lambda block: output,
    )


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=200), min_size=0, max_size=120),
    max_blocks=st.integers(min_value=1, max_value=40),
    budget=st.integers(min_value=400, max_value=3000),
    cap=st.integers(min_value=40, max_value=2000),
)
def test_packing_never_loses_duplicates_or_reorders_a_block(
    texts: list[str], max_blocks: int, budget: int, cap: int
) -> None:
    blocks = [b for b in blocks_of(texts) if block_input_tokens(b, count_tokens) <= budget]
    limits = PackLimits(input_budget=budget, output_cap=cap, min_blocks=1, max_blocks=max_blocks)
    packs = plan(blocks, limits)
    assert [block for pack in packs for block in pack.blocks] == blocks
    for pack in packs:
        assert 1 <= len(pack.blocks) <= max_blocks
        assert pack.input_tokens <= budget
        assert pack.estimated_output <= cap


def test_packs_fill_up_to_the_block_bound_when_budgets_allow() -> None:
    packs = plan(
        blocks_of([f"Sentence {n}." for n in range(100)]),
        PackLimits(input_budget=100_000, output_cap=10_000),
    )
    assert [len(pack.blocks) for pack in packs] == [40, 40, 20]


def test_the_output_cap_closes_a_pack_before_the_block_bound() -> None:
    packs = plan(
        blocks_of(["Text."] * 30), PackLimits(input_budget=100_000, output_cap=400), output=40
    )
    assert [len(pack.blocks) for pack in packs] == [10, 10, 10]


def test_a_block_larger_than_one_request_is_a_clear_error() -> None:
    with pytest.raises(UserInputError, match=r"block doc\.md#0 alone needs"):
        plan(blocks_of(["word " * 500]), PackLimits(input_budget=100, output_cap=1000))


def test_pack_ids_are_short_and_map_back_to_blocks() -> None:
    blocks = blocks_of(["One.", "Two.", "Three."])
    (pack,) = plan(blocks, PackLimits(input_budget=10_000, output_cap=10_000))
    assert pack.short_ids == {"b1": blocks[0], "b2": blocks[1], "b3": blocks[2]}
    assert re.fullmatch(
        r"<block-([0-9]+) b1>\nOne\.\n<block-\1 b2>\nTwo\.\n<block-\1 b3>\nThree\.\n</block-\1>",
        pack.render(),
    )
    assert (
        pack.id
        == plan(
            blocks_of(["One.", "Two.", "Three."]),
            PackLimits(input_budget=10_000, output_cap=10_000),
        )[0].id
    )


def test_the_output_estimate_grows_with_a_blocks_length_once_its_kind_is_observed() -> None:
    """Long paragraphs hold more findings than short ones: a pack of long ones is planned
    at more output, so that its max_tokens leaves it room."""
    estimator = OutputEstimator()
    short, long = blocks_of(["word " * 20, "word " * 200])
    assert estimator.estimate(short) == estimator.estimate(long)
    estimator.observe(short, 14 + 10)
    estimator.observe(long, 14 + 100)
    assert estimator.estimate(long) == 14 + 100
    assert estimator.estimate(short) == 14 + 10


def test_a_compact_format_starts_its_estimates_at_its_share_of_the_full_ones() -> None:
    paragraph = blocks_of(["P"])[0]
    assert OutputEstimator(scale=0.5).estimate(paragraph) * 2 == OutputEstimator().estimate(
        paragraph
    )


def test_the_output_estimate_learns_per_kind() -> None:
    estimator = OutputEstimator()
    heading, paragraph = blocks_of(["H"], BlockKind.HEADING)[0], blocks_of(["P"])[0]
    before = estimator.estimate(paragraph)
    for _ in range(30):
        estimator.observe(paragraph, 100)
    assert estimator.estimate(paragraph) > before
    assert 95 <= estimator.estimate(paragraph) <= 100
    assert estimator.estimate(heading) == 25


def test_a_block_over_a_budget_gets_a_pack_of_its_own_when_packing_plain_counts() -> None:
    packs = list(
        fill_packs(
            [(10, 5), (500, 5), (10, 5), (10, 5)], input_budget=100, output_cap=50, max_blocks=3
        )
    )
    assert packs == [(1, 10, 5), (1, 500, 5), (2, 20, 10)]


def test_blocks_the_rule_engine_flagged_are_planned_at_more_output_per_hit() -> None:
    """A block with engine hits has findings to write: each hit adds a learned rate, which
    the character rate (learned from blocks without hits) does not absorb."""
    estimator = OutputEstimator()
    quiet, flagged = blocks_of(["word " * 40, "word " * 40])
    # Before any answer, the kind's default is an average block's, hits included.
    assert estimator.estimate(flagged, 2) == estimator.estimate(quiet)
    estimator.observe(quiet, 14 + 4)
    assert estimator.estimate(flagged, 2) == 14 + 4 + 2 * DEFAULT_HIT_TOKENS
    for _ in range(20):
        estimator.observe(quiet, 14 + 4)
        estimator.observe(flagged, 14 + 4 + 2 * 30, 2)
    assert estimator.estimate(quiet) == 14 + 4
    assert estimator.estimate(flagged, 2) == 14 + 4 + 2 * 30
    assert estimator.estimate(flagged, 3) == 14 + 4 + 3 * 30


def test_learned_output_estimates_come_back_whole_from_their_stored_form() -> None:
    estimator = OutputEstimator(scale=0.5)
    heading, paragraph = blocks_of(["H"], BlockKind.HEADING)[0], blocks_of(["P " * 30])[0]
    estimator.observe(heading, 12)
    estimator.observe(paragraph, 30)
    estimator.observe(paragraph, 60, 3)
    again = OutputEstimator(scale=0.5)
    again.resume(estimator.stored_form())
    assert again == estimator
    assert again.estimate(paragraph, 2) == estimator.estimate(paragraph, 2)
