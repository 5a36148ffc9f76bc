"""The realtime executor against the sandbox's rate limits and prompt cache.

The sandbox runs on a manual clock; the executor's clock moves it, so the sandbox's buckets
refill exactly as much as the executor waits, with no wall time spent waiting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.execution.packwork import ExecutionSettings
from blockpass.sandbox import SandboxConfig
from blockpass.sandbox.clock import ManualClock
from blockpass.task import Task
from tests.execution.test_realtime import corpus, execute
from tests.sandbox.support import StartSandbox

pytestmark = pytest.mark.anyio
OUTPUT_PER_MINUTE = 3_000


class SandboxTime:
    """The executor's clock, moving the sandbox's: each wait advances both at once."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock
        self.waited = 0.0

    def now(self) -> float:
        return self._clock.now()

    async def sleep(self, seconds: float) -> None:
        self.waited += max(0.0, seconds)
        self._clock.advance(max(0.0, seconds))


async def test_a_run_bound_by_the_output_limit_waits_for_the_bucket_and_never_gets_a_429(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(
        SandboxConfig(rules=google_rules, output_tokens_per_minute=OUTPUT_PER_MINUTE)
    )
    time = SandboxTime(running.clock)
    settings = ExecutionSettings(concurrency=2, min_blocks=1, max_blocks=8)
    stats, store = await execute(running, task, corpus(64), tmp_path, settings, clock=time)
    output = sum(call.usage.output for call in await store.calls())
    assert len(await store.results()) == 64
    await store.close()
    assert "status 429" not in running.sandbox.stats.requests
    assert stats.transient_errors == 0
    # More output than the bucket holds: the limit was binding, and the run waited for it.
    assert output > OUTPUT_PER_MINUTE
    # Never more than the bucket gave: full at the start, refilled for the time waited.
    assert output <= OUTPUT_PER_MINUTE * (1 + time.waited / 60)


async def test_the_first_call_is_streamed_and_the_others_go_once_its_response_begins(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    # Each streamed chunk of the answer takes 16 x 3 ms: the first call's answer takes well
    # over a second to arrive in full after its response begins.
    running = start_sandbox(SandboxConfig(rules=google_rules, latency=0.1, token_latency=0.003))
    settings = ExecutionSettings(concurrency=4, min_blocks=1, max_blocks=8)
    _, store = await execute(running, task, corpus(24), tmp_path, settings)
    first, *others = sorted(await store.calls(), key=lambda call: call.started_at)
    await store.close()
    assert first.usage.cache_write > 0
    assert all(call.usage.cache_read == first.usage.cache_write for call in others)
    assert all(call.started_at < first.finished_at for call in others)
