from __future__ import annotations

import logging
import textwrap
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from blockpass.blocks import Block, BlockKind, BlockResult, Edit, Outcome, Span, Verdict
from blockpass.errors import UserInputError
from blockpass.store import (
    BatchItemRecord,
    BatchState,
    CallStatus,
    RunStore,
)
from blockpass.usage import Usage
from tests.store.conftest import (
    FINGERPRINT,
    SETTINGS,
    WRITER_UNTIL_KILLED,
    StoreFactory,
    kill_after_lines,
    make_block,
    make_call,
    make_result,
    put_numbered_blocks,
)

pytestmark = pytest.mark.anyio


async def test_blocks_round_trip_in_document_and_index_order(store: RunStore) -> None:
    blocks = [
        Block.create(
            document_id="b.md",
            index=1,
            kind=BlockKind.HEADING,
            text="Überschrift — 見出し 🙂",
            span=Span(start=10, end=42, line=3, column=2),
        ),
        make_block("b.md", 0, ""),
        Block.create(
            document_id="a.jsonl", index=7, kind=BlockKind.CODE, text="x", source_id="cms-17"
        ),
        make_block("b.md", 10),
        make_block("b.md", 2),
    ]
    await store.put_blocks(blocks)

    stored = await store.blocks()

    assert [(b.document_id, b.index) for b in stored] == [
        ("a.jsonl", 7),
        ("b.md", 0),
        ("b.md", 1),
        ("b.md", 2),
        ("b.md", 10),
    ]
    assert sorted(stored, key=lambda b: b.id) == sorted(blocks, key=lambda b: b.id)


async def test_putting_blocks_again_is_idempotent_and_updates_changed_ones(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 3)
    await store.put_blocks(blocks)
    changed = make_block("doc.md", 1, "Rewritten.")
    await store.put_blocks([changed])

    assert await store.blocks() == [blocks[0], changed, blocks[2]]


async def test_calls_round_trip_with_usage_and_get_increasing_ids(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 3)
    first = make_call(
        (blocks[2].id, blocks[0].id),
        usage=Usage(uncached_input=1, cache_write_5m=2, cache_write_1h=3, cache_read=4, output=5),
        batch=True,
        status=CallStatus.TRUNCATED,
        error="max_tokens — ran out",
        attempt=2,
    )
    empty = make_call((), status="error", error="HTTP 500", usage=Usage())

    first_id = await store.record_call(first, [])
    empty_id = await store.record_call(empty, [])

    assert first_id < empty_id
    assert await store.calls() == [
        replace(first, id=first_id),
        replace(empty, id=empty_id),
    ]


async def test_results_round_trip_exactly(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 4)
    edited = make_result(
        blocks[0],
        verdict=Verdict.EDIT,
        edits=(
            Edit(find="utilise", replace="use", rule="Plain.Words"),
            Edit(find="« naïve »", replace="“naive” 🙂", rule="Quotes", source="engine"),
        ),
        notes=("line one\nline two", ""),
        rejected_edits=(Edit(find="absent", replace="", rule="R\u00e9gle"),),
    )
    flagged = make_result(blocks[1], verdict=Verdict.FLAG, notes=("needs a source",))
    skipped = make_result(blocks[2], Outcome.SKIPPED, reason="code block")
    failed = make_result(blocks[3], Outcome.FAILED, reason="malformed twice: 'x' → \"y\"")

    call_id = await store.record_call(make_call((blocks[0].id, blocks[1].id)), [edited, flagged])
    await store.record_results([skipped, failed])

    assert await store.results() == {
        blocks[0].id: replace(edited, call_id=call_id),
        blocks[1].id: replace(flagged, call_id=call_id),
        blocks[2].id: skipped,
        blocks[3].id: failed,
    }


async def test_results_of_some_blocks_are_those_blocks_results_only(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 4)
    results = [make_result(block) for block in blocks[:3]]
    await store.record_results(results)

    wanted = [blocks[0].id, blocks[2].id, blocks[3].id, "no-such-block", 'it\'s; -- "odd"']
    assert await store.results(wanted) == {blocks[0].id: results[0], blocks[2].id: results[2]}
    assert await store.results([]) == {}


async def test_record_call_sets_its_own_id_on_every_result(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 2)
    call_id = await store.record_call(
        make_call((blocks[0].id, blocks[1].id)),
        [make_result(block, call_id=999) for block in blocks],
    )

    assert {result.call_id for result in (await store.results()).values()} == {call_id}


async def test_a_failing_record_call_stores_neither_the_call_nor_any_result(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 2)
    unknown = make_block("never-stored.md", 0)
    results = [make_result(blocks[0]), make_result(blocks[1]), make_result(unknown)]

    with pytest.raises(ValueError, match="refused"):
        await store.record_call(make_call((blocks[0].id, blocks[1].id)), results)

    assert await store.calls() == []
    assert await store.results() == {}
    # The store is still usable after the rollback.
    await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    assert len(await store.calls()) == 1


async def test_a_failing_record_results_stores_nothing_of_the_batch(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 1)

    with pytest.raises(ValueError, match="refused"):
        await store.record_results([make_result(blocks[0]), make_result(make_block("other.md"))])

    assert await store.results() == {}


async def test_a_new_store_on_the_same_run_sees_everything(
    stores: StoreFactory, store: RunStore
) -> None:
    blocks = await put_numbered_blocks(store, 3)
    call_id = await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    await store.record_results([make_result(blocks[1], Outcome.SKIPPED, reason="empty")])
    before = (await store.blocks(), await store.calls(), await store.results())
    await store.close()

    reopened = await stores.open()
    await reopened.open_run(fingerprint=FINGERPRINT, settings=SETTINGS)

    assert (await reopened.blocks(), await reopened.calls(), await reopened.results()) == before
    assert (await reopened.results())[blocks[0].id].call_id == call_id
    assert await reopened.settings() == SETTINGS


async def test_a_different_fingerprint_is_refused_with_a_user_error(
    stores: StoreFactory, store: RunStore
) -> None:
    other = await stores.open()

    with pytest.raises(UserInputError, match=r"different task, guide or model.*new --out") as info:
        await other.open_run(fingerprint="another-guide", settings=SETTINGS)

    assert "\n" not in str(info.value)
    assert await other.settings() == SETTINGS


async def test_the_same_fingerprint_reopens_and_keeps_the_latest_settings(
    stores: StoreFactory, store: RunStore
) -> None:
    other = await stores.open()
    await other.open_run(fingerprint=FINGERPRINT, settings={"concurrency": "16"})

    assert await other.settings() == {"concurrency": "16"}
    assert await (await stores.open("fresh")).settings() == {}


async def test_a_result_is_never_overwritten(
    store: RunStore, caplog: pytest.LogCaptureFixture
) -> None:
    blocks = await put_numbered_blocks(store, 1)
    first_call = await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    later = make_result(blocks[0], verdict=Verdict.FLAG, notes=("second opinion",))

    with caplog.at_level(logging.WARNING):
        second_call = await store.record_call(make_call((blocks[0].id,)), [later])
        await store.record_results([make_result(blocks[0], Outcome.FAILED, reason="timeout")])

    assert (await store.results())[blocks[0].id] == make_result(blocks[0], call_id=first_call)
    # The second call was paid for, so it is stored even though its result was not.
    assert [call.id for call in await store.calls()] == [first_call, second_call]
    assert sum("kept the earlier result" in record.message for record in caplog.records) == 2


async def test_a_failed_block_can_later_get_a_result(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 1)
    await store.record_results([make_result(blocks[0], Outcome.FAILED, reason="first try")])
    await store.record_results([make_result(blocks[0], Outcome.FAILED, reason="second try")])
    assert (await store.results())[blocks[0].id].reason == "second try"

    call_id = await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])

    assert (await store.results())[blocks[0].id] == make_result(blocks[0], call_id=call_id)


async def test_a_result_for_changed_content_replaces_the_old_one(store: RunStore) -> None:
    old = (await put_numbered_blocks(store, 1))[0]
    await store.record_results([make_result(old)])
    new = make_block(old.document_id, old.index, "The text was edited since the last run.")
    await store.put_blocks([new])

    await store.record_results([make_result(new, verdict=Verdict.FLAG)])

    assert (await store.results())[new.id] == make_result(new, verdict=Verdict.FLAG)


async def test_lookup_previous_results_finds_results_by_content_hash(store: RunStore) -> None:
    first = make_block("a.md", 0, "Shared text.")
    twin = make_block("b.md", 4, "Shared text.")
    other = make_block("a.md", 1, "Other text.")
    await store.put_blocks([first, twin, other])
    edited = make_result(twin, verdict=Verdict.EDIT, edits=(Edit(find="S", replace="s", rule="r"),))
    await store.record_results([edited, make_result(first), make_result(other)])

    found = await store.lookup_previous_results(
        [first.content_hash, "0" * 32, first.content_hash], FINGERPRINT
    )

    assert found == {first.content_hash: make_result(first)}
    assert await store.lookup_previous_results([], FINGERPRINT) == {}


async def test_lookup_previous_results_ignores_other_fingerprints_and_non_results(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 3)
    await store.record_results(
        [
            make_result(blocks[0]),
            make_result(blocks[1], Outcome.SKIPPED, reason="empty"),
            make_result(blocks[2], Outcome.FAILED, reason="refused"),
        ]
    )
    hashes = [block.content_hash for block in blocks]

    assert await store.lookup_previous_results(hashes, "another-fingerprint") == {}
    assert list(await store.lookup_previous_results(hashes, FINGERPRINT)) == [hashes[0]]


async def test_lookup_previous_results_takes_many_hashes_at_once(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 2500)
    await store.record_results([make_result(block) for block in blocks[::2]])
    wanted = [block.content_hash for block in blocks] + [f"{n:032x}" for n in range(40_000)]

    found = await store.lookup_previous_results(wanted, FINGERPRINT)

    assert set(found) == {block.content_hash for block in blocks[::2]}


async def test_concurrent_calls_are_all_stored_with_distinct_ids(store: RunStore) -> None:
    blocks = await put_numbered_blocks(store, 50)
    ids: list[int] = []

    async def send(block: Block) -> None:
        ids.append(await store.record_call(make_call((block.id,)), [make_result(block)]))

    async with anyio.create_task_group() as group:
        for block in blocks:
            group.start_soon(send, block)

    assert len(set(ids)) == 50
    assert sorted(ids) == [call.id for call in await store.calls()]
    assert len(await store.results()) == 50


async def test_writing_results_before_open_run_is_a_programming_error(
    stores: StoreFactory,
) -> None:
    unopened = await stores.open()
    block = make_block()
    await unopened.put_blocks([block])

    with pytest.raises(RuntimeError, match="open_run"):
        await unopened.record_results([make_result(block)])
    with pytest.raises(RuntimeError, match="open_run"):
        await unopened.record_call(make_call((block.id,)), [])


async def test_a_closed_store_refuses_work_and_closes_twice_harmlessly(store: RunStore) -> None:
    await store.close()
    await store.close()

    with pytest.raises(RuntimeError, match="closed"):
        await store.blocks()


async def test_a_committed_call_survives_the_process_being_killed(
    stores: StoreFactory, tmp_path: Path
) -> None:
    committed = 25
    source = WRITER_UNTIL_KILLED.format(opener=stores.child_opener(), fingerprint=FINGERPRINT)
    await anyio.to_thread.run_sync(
        kill_after_lines, textwrap.dedent(source), committed, tmp_path / "child.stderr"
    )

    reopened = await stores.open()
    calls = await reopened.calls()
    results = await reopened.results()

    assert len(calls) >= committed
    for call in calls:
        assert len(call.block_ids) == 3
        assert all(results[block_id].call_id == call.id for block_id in call.block_ids)
    assert sum(result.call_id is not None for result in results.values()) == 3 * len(calls)


async def test_a_batch_is_stored_with_its_packs_before_it_has_a_provider_id(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 3)
    items = [
        BatchItemRecord(custom_id="p-1", block_ids=(blocks[0].id, blocks[1].id)),
        BatchItemRecord(custom_id="p-2", block_ids=(blocks[2].id,)),
    ]
    stored = await store.add_batch(label="submission-1", provider="anthropic", items=items)
    assert stored.state is BatchState.SUBMITTING
    assert stored.remote_id is None
    assert stored.items == tuple(items)
    await store.update_batch(stored.id, BatchState.SUBMITTED, remote_id="msgbatch_1")
    found = await store.batch_by_remote_id("msgbatch_1")
    assert found is not None
    assert found.state is BatchState.SUBMITTED
    assert found.submitted_at is not None
    assert found.ended_at is None
    assert await store.batch_by_remote_id("msgbatch_other") is None


async def test_a_collected_batch_stays_collected_whatever_a_late_poll_or_webhook_says(
    store: RunStore,
) -> None:
    stored = await store.add_batch(label="submission-1", provider="openai", items=[])
    await store.update_batch(stored.id, BatchState.SUBMITTED, remote_id="batch_1")
    await store.update_batch(stored.id, BatchState.ENDED, remote_status="completed")
    await store.update_batch(stored.id, BatchState.COLLECTED)
    await store.update_batch(stored.id, BatchState.ENDED, remote_status="expired")
    (batch,) = await store.batches()
    assert batch.state is BatchState.COLLECTED
    assert batch.remote_status == "completed"
    assert await store.batches(open_only=True) == []


async def test_a_batch_item_collected_twice_stores_its_call_and_results_once(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 2)
    ids = (blocks[0].id, blocks[1].id)
    stored = await store.add_batch(
        label="submission-1",
        provider="anthropic",
        items=[BatchItemRecord(custom_id="p-1", block_ids=ids)],
    )
    call = make_call(ids, batch=True)
    results = [make_result(block) for block in blocks]
    first = await store.record_batch_item(stored.id, "p-1", call, results)
    again = await store.record_batch_item(stored.id, "p-1", call, results)
    assert first is not None
    assert again is None
    assert len(await store.calls()) == 1
    (batch,) = await store.batches()
    assert batch.items[0].collected


async def test_a_webhook_delivery_is_remembered_once_and_can_be_forgotten(
    store: RunStore,
) -> None:
    assert await store.first_delivery("msg_1", 1.0)
    assert not await store.first_delivery("msg_1", 2.0)
    await store.forget_delivery("msg_1")
    assert await store.first_delivery("msg_1", 3.0)


async def test_workers_recording_the_same_blocks_at_once_keep_one_result_per_block(
    stores: StoreFactory, store: RunStore
) -> None:
    blocks = await put_numbered_blocks(store, 20)
    workers = [store]
    for _ in range(3):
        worker = await stores.open()
        await worker.open_run(fingerprint=FINGERPRINT, settings=SETTINGS)
        workers.append(worker)
    verdicts = [Verdict.OK, Verdict.FLAG, Verdict.EDIT, Verdict.OK]

    seen: list[BlockResult] = []

    async def record(worker: RunStore, verdict: Verdict) -> None:
        for block in blocks:
            call = make_call((block.id,), pack_id=f"{verdict}-{block.id}")
            await worker.record_call(call, [make_result(block, verdict=verdict)])
            seen.append((await worker.results())[block.id])

    async with anyio.create_task_group() as group:
        for worker, verdict in zip(workers, verdicts, strict=True):
            group.start_soon(record, worker, verdict)

    calls = {call.id: call for call in await store.calls()}
    results = await store.results()
    # Every call was paid for and is stored; each block keeps the result of one call that
    # carried it, the one every worker saw once its own call had committed: no later
    # record replaced it. (Ids need not follow commit order: PostgreSQL hands them out at
    # insert time.)
    assert len(calls) == 4 * len(blocks)
    for block in blocks:
        kept = results[block.id]
        assert kept.call_id is not None
        assert calls[kept.call_id].pack_id == f"{kept.verdict}-{block.id}"
    assert len(seen) == 4 * len(blocks)
    assert all(result == results[result.block_id] for result in seen)


async def test_a_call_recorded_under_cancellation_is_stored_whole_or_not_at_all(
    store: RunStore,
) -> None:
    blocks = await put_numbered_blocks(store, 3)
    ids = tuple(block.id for block in blocks)

    for _ in range(3):
        with anyio.CancelScope() as scope:
            scope.cancel()  # as a Ctrl-C arriving while the record is on its way
            await store.record_call(make_call(ids), [make_result(block) for block in blocks])

    calls = await store.calls()
    results = await store.results()
    assert len(calls) <= 3
    if calls:
        assert {result.call_id for result in results.values()} == {calls[0].id}
        assert set(results) == set(ids)
    else:
        assert results == {}


async def test_a_second_connection_joins_the_run_and_its_results_carry_the_runs_fingerprint(
    store: RunStore, stores: StoreFactory
) -> None:
    (block,) = await put_numbered_blocks(store, 1)
    joining = await stores.open()
    assert await joining.join_run()
    await joining.record_results([make_result(block)])

    assert (await store.results())[block.id].outcome is Outcome.RESULT
    assert await store.lookup_previous_results([block.content_hash], FINGERPRINT)
    assert await joining.settings() == SETTINGS


async def test_a_worker_joining_with_its_lane_stores_that_lanes_results_under_its_fingerprint(
    store: RunStore, stores: StoreFactory
) -> None:
    (weak, strong) = await put_numbered_blocks(store, 2)
    joining = await stores.open()
    assert await joining.join_run(lanes={"sandbox:weak": "weak-fingerprint"})
    await joining.record_results(
        [make_result(weak, lane="sandbox:weak"), make_result(strong, lane="sandbox:strong")]
    )

    assert list(await store.lookup_previous_results([weak.content_hash], "weak-fingerprint"))
    assert not await store.lookup_previous_results([weak.content_hash], FINGERPRINT)
    # A lane the worker did not name keeps the run's fingerprint, as before lanes.
    assert list(await store.lookup_previous_results([strong.content_hash], FINGERPRINT))


async def test_joining_a_store_no_run_was_opened_in_binds_nothing(stores: StoreFactory) -> None:
    fresh = await stores.open("never-opened")
    assert not await fresh.join_run()
    with pytest.raises(RuntimeError, match="open_run must be called"):
        await fresh.record_results([])
