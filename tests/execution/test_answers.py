from __future__ import annotations

import pytest

from blockpass.blocks import Block, BlockKind
from blockpass.execution.answers import SendAgain, answer_status, send_again
from blockpass.providers.base import ModelResponse, StopReason
from blockpass.usage import Usage


def blocks(count: int) -> list[Block]:
    return [
        Block.create(document_id="doc.md", index=n, kind=BlockKind.PARAGRAPH, text=f"Text {n}.")
        for n in range(count)
    ]


@pytest.mark.parametrize(
    ("stop_reason", "complete", "status"),
    [
        (StopReason.END, True, "ok"),
        (StopReason.END, False, "malformed"),
        (StopReason.OUTPUT_LIMIT, False, "truncated"),
        (StopReason.CONTEXT_LIMIT, True, "truncated"),
        (StopReason.REFUSAL, True, "refused"),
    ],
)
def test_an_answer_is_stored_with_a_status_from_its_stop_reason_and_completeness(
    stop_reason: StopReason, complete: bool, status: str
) -> None:
    response = ModelResponse(text="", stop_reason=stop_reason, usage=Usage())
    assert answer_status(response, complete=complete) == status


def test_an_answer_with_every_result_sends_nothing_again() -> None:
    assert send_again("truncated", [], pack_size=4) is None


def test_ids_missing_from_a_complete_answer_go_again_at_the_same_pack_size() -> None:
    missing = blocks(2)
    assert send_again("ok", missing, pack_size=8) == SendAgain(
        blocks=tuple(missing), reason="no result for its id", smaller=False
    )


def test_blocks_a_truncated_answer_left_out_go_again_in_smaller_packs() -> None:
    missing = blocks(3)
    assert send_again("truncated", missing, pack_size=8) == SendAgain(
        blocks=tuple(missing), reason="answer truncated", smaller=True
    )


def test_a_refused_block_alone_in_its_pack_fails_at_once() -> None:
    (block,) = blocks(1)
    again = send_again("refused", [block], pack_size=1)
    assert again is not None
    assert again.fail_now
    assert again.reason == "refused by the model"


def test_a_refused_pack_of_several_blocks_is_split() -> None:
    again = send_again("refused", blocks(4), pack_size=4)
    assert again is not None
    assert again.smaller
    assert not again.fail_now
