"""A lane's pack sizes and output estimates outlive the run that learned them.

A lane is named ``provider:results_key``; today a run has one. A split pack's smaller sizes
and the output estimates learned from each answer are stored as they change, and a job
resumes them before planning, so a restarted run (or another worker) does not start again
from full packs and default estimates.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.blocks import BlockKind
from blockpass.execution.packwork import ExecutionParts
from blockpass.providers.base import model_profile
from blockpass.sandbox import SandboxConfig
from blockpass.store import RunStore, open_sqlite_store
from blockpass.task import Task
from tests.execution.test_realtime import FAST, MODEL, corpus, execute
from tests.sandbox.support import StartSandbox

pytestmark = pytest.mark.anyio
PROVIDER = "sandbox"


def parts_on(store: RunStore, task: Task) -> ExecutionParts:
    return ExecutionParts.build(
        profile=model_profile(MODEL), provider_name=PROVIDER, task=task, store=store,
        settings=FAST,
    )  # fmt: skip


async def test_a_restarted_run_packs_the_blocks_of_a_split_pack_at_their_smaller_size(
    task: Task, tmp_path: Path
) -> None:
    blocks = corpus(16)
    store = await open_sqlite_store(tmp_path / "run")
    await store.open_run(fingerprint=task.fingerprint(MODEL), settings={})
    await store.put_blocks(blocks)
    first = parts_on(store, task)
    assert [len(pack.blocks) for pack in first.planner.plan(blocks)] == [8, 8]
    await first.retry_or_fail(blocks[:8], "answer truncated", smaller=True)
    await store.close()

    store = await open_sqlite_store(tmp_path / "run")
    restarted = parts_on(store, task)
    await restarted.resume_lane()
    sizes = sorted(len(pack.blocks) for pack in restarted.planner.plan(blocks))
    await store.close()

    assert restarted.lane == f"{PROVIDER}:{MODEL}"
    assert sizes == [4, 4, 8]


async def test_output_estimates_learned_in_one_run_start_the_next(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    blocks = corpus(10)
    _, store = await execute(running, task, blocks, tmp_path)
    fresh = parts_on(store, task)
    restarted = parts_on(store, task)
    await restarted.resume_lane()
    learned = await store.output_estimates(f"{PROVIDER}:{MODEL}")
    await store.close()

    paragraph = BlockKind.PARAGRAPH.value
    assert set(learned) == {paragraph, f"{paragraph}/beyond", f"{paragraph}/characters"}
    # Restarted, the lane plans with what it learned per character, not with the defaults.
    ran = fresh.planner
    ran.resume({}, learned)
    expected = ran.pack_of(blocks).estimated_output
    rate = learned[f"{paragraph}/beyond"] / learned[f"{paragraph}/characters"]
    assert expected == sum(round(14 + rate * len(block.text)) for block in blocks)
    assert restarted.planner.pack_of(blocks).estimated_output == expected
    assert parts_on(store, task).planner.pack_of(blocks).estimated_output != expected
