from __future__ import annotations

from blockpass.blocks import Block
from blockpass.execution.planning import PackPlanner
from blockpass.providers.base import model_profile
from blockpass.tokens import count_tokens
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
