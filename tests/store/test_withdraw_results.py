"""A stored result judged unusable afterwards (an escalated weak answer) is withdrawn."""

from __future__ import annotations

import pytest

from blockpass.blocks import Outcome
from blockpass.store import RunStore
from tests.store.conftest import make_block, make_call, make_result, put_numbered_blocks

pytestmark = pytest.mark.anyio


async def test_a_withdrawn_result_becomes_the_failure_given_and_the_call_stays(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 2)
    call_id = await store.record_call(
        make_call((blocks[0].id, blocks[1].id)), [make_result(block) for block in blocks]
    )
    failure = make_result(blocks[0], Outcome.FAILED, reason="escalated: unsure")

    await store.withdraw_results([failure])

    results = await store.results()
    assert results[blocks[0].id].outcome is Outcome.FAILED
    assert results[blocks[0].id].reason == "escalated: unsure"
    assert results[blocks[1].id].outcome is Outcome.RESULT
    assert [call.id for call in await store.calls()] == [call_id]


async def test_only_failures_withdraw_a_result_and_an_unknown_block_stores_nothing(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 1)
    await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    before = await store.results()

    with pytest.raises(ValueError, match="only failures"):
        await store.withdraw_results([make_result(blocks[0])])
    with pytest.raises(ValueError, match="refused"):
        await store.withdraw_results(
            [
                make_result(blocks[0], Outcome.FAILED, reason="x"),
                make_result(make_block("other.md"), Outcome.FAILED, reason="x"),
            ]
        )

    assert await store.results() == before
