from __future__ import annotations

from functools import partial

import pytest

from blockpass.blocks import Block, BlockResult, Outcome, Verdict
from blockpass.errors import UserInputError
from blockpass.execution.planning import PackPlanner
from blockpass.layout import answer_room, output_reserve
from blockpass.providers.base import model_profile
from blockpass.tokens import count_tokens
from blockpass.verdicts import full_item
from tests.execution.test_answers import blocks


def planner(max_blocks: int = 8) -> PackPlanner:
    profile = model_profile("claude-sonnet-4-5")
    return PackPlanner(
        profile=profile,
        prefix_tokens=1_000,
        min_blocks=1,
        max_blocks=max_blocks,
        count=lambda text: count_tokens(text, profile.tokenizer),
    )


def test_blocks_that_came_back_from_a_broken_pack_go_in_packs_half_that_size() -> None:
    plan = planner()
    queue = blocks(12)
    plan.shrink(queue[:6], came_back_with=6)
    packs = plan.plan(queue)
    assert [len(pack.blocks) for pack in packs] == [6, 3, 3]
    assert [block for pack in packs[1:] for block in pack.blocks] == queue[:6]


def test_a_pack_shrinks_no_further_than_one_block() -> None:
    plan = planner()
    (block,) = blocks(1)
    for _ in range(5):
        plan.shrink([block], came_back_with=1)
    assert [len(pack.blocks) for pack in plan.plan([block, *blocks(3)[1:]])] == [2, 1]


def test_a_block_too_large_for_the_input_budget_is_named_with_its_size() -> None:
    plan = planner()
    (small,) = blocks(1)
    huge = Block.create(document_id="doc.md", index=9, kind=small.kind, text="word " * 300_000)
    assert list(plan.too_large([small, huge])) == [huge.id]


def test_an_answers_measured_output_is_spread_over_its_items_by_their_rewritten_lengths() -> None:
    # Items rewritten from results miss the answer's wrapper and legend; the measured
    # output does not.
    (pack,) = planner().plan(blocks(4))
    results = {
        block.id: BlockResult(
            block_id=block.id,
            content_hash=block.content_hash,
            outcome=Outcome.RESULT,
            verdict=Verdict.OK,
        )
        for block in pack.blocks
    }
    rewritten = sum(count_tokens(full_item(result)) for result in results.values())
    guessed, measured = planner(), planner()
    guessed.learn(pack, results)
    measured.learn(pack, results, answer_tokens=2 * rewritten)
    learned = guessed.output_estimates()["paragraph"]
    assert measured.output_estimates()["paragraph"] == pytest.approx(2 * learned)


def test_a_guide_that_leaves_room_for_the_largest_planned_answer_fits_and_one_that_does_not_is_refused() -> (
    None
):
    # The Red Hat guide is about 157,000 tokens: it leaves claude-sonnet-4-5 (200,000 window)
    # room for packs and their answers, though not for the model's whole 64,000-token maximum.
    profile = model_profile("claude-sonnet-4-5")
    count = partial(count_tokens, family=profile.tokenizer)
    roomy = PackPlanner(
        profile=profile, prefix_tokens=157_000, min_blocks=1, max_blocks=80, count=count
    )
    (pack,) = roomy.plan(blocks(80))
    assert 157_000 + pack.input_tokens + output_reserve(pack, profile) < profile.context_window
    with pytest.raises(UserInputError, match="kept for the answer"):
        PackPlanner(
            profile=profile,
            prefix_tokens=profile.context_window - answer_room(profile),
            min_blocks=1,
            max_blocks=80,
            count=count,
        )
