"""The realtime executor against the sandbox, through the Anthropic adapter and the SQLite store."""

from __future__ import annotations

import json
from collections import Counter, deque
from pathlib import Path

import pytest

from blockpass.blocks import Block, BlockKind, Outcome
from blockpass.execution.clock import SYSTEM_CLOCK, Clock
from blockpass.execution.packwork import ExecutionParts, ExecutionSettings, ExecutionStats
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.packformat import RESULT_SCHEMA, PackedBlock
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import model_profile
from blockpass.rules import load_vale_package
from blockpass.sandbox import DEFAULT_API_KEY, FaultPlan, SandboxConfig
from blockpass.sandbox.faults import parse_script
from blockpass.sandbox.responder import Responder
from blockpass.store import RunStore, open_sqlite_store
from blockpass.task import Task
from tests.sandbox.support import RunningSandbox, StartSandbox

pytestmark = pytest.mark.anyio
MODEL = "claude-sonnet-4-5"
FAST = ExecutionSettings(concurrency=4, backoff_base=0.001, min_blocks=1, max_blocks=8)
SENTENCES = (
    "Click OK to abort the install.",
    "We will configure the server for you.",
    "The build finishes in seconds.",
    "Select the checkbox to enable logging.",
    "This is a simple paragraph about crates.",
)


def corpus(count: int) -> list[Block]:
    return [
        Block.create(
            document_id="doc.md",
            index=n,
            kind=BlockKind.PARAGRAPH,
            text=f"{SENTENCES[n % 5]} ({n})",
        )
        for n in range(count)
    ]


async def execute(
    running: RunningSandbox,
    task: Task,
    blocks: list[Block],
    tmp_path: Path,
    settings: ExecutionSettings = FAST,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[ExecutionStats, RunStore]:
    provider = AnthropicProvider(
        profile=model_profile(MODEL),
        api_key=DEFAULT_API_KEY,
        base_url=running.server.base_url,
        name="sandbox",
    )
    store = await open_sqlite_store(tmp_path / "run")
    await store.open_run(fingerprint=task.fingerprint(MODEL), settings={})
    await store.put_blocks(blocks)
    try:
        parts = ExecutionParts.build(
            profile=provider.profile,
            provider_name=provider.name,
            task=task,
            store=store,
            settings=settings,
        )
        stats = await RealtimeExecutor(provider=provider, parts=parts, clock=clock).run(blocks)
    finally:
        await provider.aclose()
    return stats, store


async def test_every_block_gets_one_result_and_only_the_first_call_writes_the_prefix(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules, latency=0.05))
    blocks = corpus(60)
    stats, store = await execute(running, task, blocks, tmp_path)
    results = await store.results()
    assert set(results) == {block.id for block in blocks}
    assert {result.outcome for result in results.values()} == {Outcome.RESULT}
    # Each result is the verdict for its own block's text: the short ids were mapped back right.
    responder = Responder(load_vale_package(google_rules).rules)
    for block in blocks:
        expected = json.loads(
            responder.reply(
                [PackedBlock(id="b1", kind="paragraph", text=block.text)], RESULT_SCHEMA
            )
        )
        assert results[block.id].verdict == expected["results"][0]["verdict"]
    assert Counter(result.verdict for result in results.values())["edit"] == 12  # 'abort'
    calls = await store.calls()
    assert len(calls) == stats.calls == 8  # 60 blocks in packs of at most 8
    assert calls[0].usage.cache_write_5m > 2000
    assert all(call.usage.cache_read == calls[0].usage.cache_write_5m for call in calls[1:])
    assert all(call.usage.cache_write == 0 for call in calls[1:])
    await store.close()


async def test_a_truncated_answer_keeps_complete_results_and_repacks_the_rest_smaller(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    faults = FaultPlan(script=deque(parse_script("ok,truncate")))
    running = start_sandbox(SandboxConfig(rules=google_rules), faults=faults)
    blocks = corpus(16)
    stats, store = await execute(running, task, blocks, tmp_path)
    results = await store.results()
    assert {result.outcome for result in results.values()} == {Outcome.RESULT}
    assert len(results) == 16
    assert stats.truncated == 1
    calls = await store.calls()
    truncated = next(call for call in calls if call.status == "truncated")
    later = [call for call in calls if call.started_at >= truncated.finished_at]
    produced = {result.block_id for result in results.values() if result.call_id == truncated.id}
    assert produced  # the complete items before the cut were kept
    assert all(not produced & set(call.block_ids) for call in later)  # and never sent again
    assert all(len(call.block_ids) <= 4 for call in later)  # the rest went out in halves
    await store.close()


async def test_missing_duplicate_invented_and_malformed_answers_still_account_for_every_block(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    faults = FaultPlan(
        script=deque(
            parse_script(
                "ok,drop_ids,duplicate_ids,invent_ids+reorder_ids,malformed_json,overloaded,server_error"
            )
        )
    )
    running = start_sandbox(SandboxConfig(rules=google_rules), faults=faults)
    blocks = corpus(40)
    stats, store = await execute(running, task, blocks, tmp_path)
    results = await store.results()
    assert {result.outcome for result in results.values()} == {Outcome.RESULT}
    assert len(results) == 40
    assert stats.duplicate_ids == 1
    assert stats.unknown_ids == 1
    assert stats.missing_ids == 1
    assert stats.malformed == 1
    assert stats.transient_errors == 2
    statuses = Counter(call.status for call in await store.calls())
    assert statuses["error"] == 2
    await store.close()


async def test_a_block_that_never_gets_a_result_is_recorded_as_failed_with_its_reason(
    start_sandbox: StartSandbox, task: Task, tmp_path: Path
) -> None:
    faults = FaultPlan(script=deque(parse_script("ok,refusal,refusal,refusal,refusal")))
    running = start_sandbox(faults=faults)
    blocks = corpus(2)
    settings = ExecutionSettings(concurrency=1, backoff_base=0.001, min_blocks=1, max_blocks=1)
    stats, store = await execute(running, task, blocks, tmp_path, settings)
    results = await store.results()
    assert results["doc.md#0"].outcome is Outcome.RESULT
    failed = results["doc.md#1"]
    assert failed.outcome is Outcome.FAILED
    assert failed.reason.startswith("refused by the model")
    assert stats.failed_blocks == 1
    await store.close()


async def test_rate_limits_are_waited_out_and_every_block_finishes(
    start_sandbox: StartSandbox, task: Task, tmp_path: Path
) -> None:
    faults = FaultPlan(script=deque(parse_script("ok,rate_limited,rate_limited")))
    running = start_sandbox(faults=faults)
    stats, store = await execute(running, task, corpus(24), tmp_path)
    assert stats.transient_errors == 2
    assert len(await store.results()) == 24
    await store.close()
