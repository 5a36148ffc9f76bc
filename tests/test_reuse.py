from __future__ import annotations

from blockpass.blocks import Block, BlockKind
from blockpass.reuse import plan_reuse


def paragraphs(*texts: str) -> list[Block]:
    return [
        Block.create(document_id="doc.md", index=n, kind=BlockKind.PARAGRAPH, text=text)
        for n, text in enumerate(texts)
    ]


def test_the_first_block_of_each_text_is_sent_and_later_ones_copy_its_result() -> None:
    blocks = paragraphs("One.", "Two.", "One.", "Three.", "Two.")
    plan = plan_reuse(blocks)
    assert plan.to_send == (blocks[0], blocks[1], blocks[3])
    assert plan.copies == (blocks[2], blocks[4])
    assert plan.reused == ()


def test_a_text_with_an_earlier_result_is_reused_and_never_sent() -> None:
    blocks = paragraphs("One.", "Two.", "One.")
    plan = plan_reuse(blocks, {blocks[0].content_hash})
    assert plan.reused == (blocks[0], blocks[2])
    assert plan.to_send == (blocks[1],)
    assert plan.copies == ()
