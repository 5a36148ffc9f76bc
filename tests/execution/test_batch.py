"""The batch executor against the sandbox's Message Batches, through the SDK and the SQLite store.

The sandbox runs on a manual clock: a batch makes progress only when a test moves the clock,
which ``on_submitted`` does as soon as a batch is submitted, so no test waits for real time
beyond the executor's short polls.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from itertools import pairwise
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from blockpass.blocks import Block, Outcome
from blockpass.errors import TransientProviderError
from blockpass.execution.batch import BatchExecutor, BatchSettings
from blockpass.execution.clock import SYSTEM_CLOCK, Clock
from blockpass.execution.ownership import possibly_ours
from blockpass.execution.packwork import ExecutionParts, ExecutionSettings, ExecutionStats
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.providers import open_adapter
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.anthropic_batches import AnthropicBatches
from blockpass.providers.base import model_profile
from blockpass.providers.batches import BatchApi, BatchItem, BatchStatus
from blockpass.sandbox import (
    DEFAULT_API_KEY,
    FaultPlan,
    ManualClock,
    Sandbox,
    SandboxConfig,
    create_app,
    serve_in_thread,
)
from blockpass.sandbox.faults import parse_rates
from blockpass.store import (
    BatchItemRecord,
    BatchState,
    CallRecord,
    RunStore,
    StoredBatch,
    open_sqlite_store,
)
from blockpass.task import Task
from tests.execution.clocks import SteppedClock
from tests.execution.test_realtime import MODEL, corpus
from tests.sandbox.support import RunningSandbox, StartSandbox

pytestmark = pytest.mark.anyio
FAST = ExecutionSettings(concurrency=4, backoff_base=0.001, min_blocks=1, max_blocks=8)
QUICK_POLLS = BatchSettings(poll_initial=0.01, poll_max=0.05, store_check=0.01, max_blocks=8)
HOUR = 3600.0
DAY = 86_400.0 + 120.0
# Longer than a sandbox batch takes (60 s by default), well within the 1h cache TTL.
BATCH_TIME = 120.0


async def open_store(tmp_path: Path, task: Task, blocks: list[Block]) -> RunStore:
    store = await open_sqlite_store(tmp_path / "run")
    await store.open_run(fingerprint=task.fingerprint(MODEL), settings={})
    await store.put_blocks(blocks)
    return store


async def execute(
    running: RunningSandbox,
    task: Task,
    blocks: list[Block],
    store: RunStore,
    settings: BatchSettings = QUICK_POLLS,
    on_submitted: Callable[[StoredBatch], None] | None = None,
    batches: Callable[[AnthropicProvider], BatchApi] = AnthropicBatches,
    clock: Clock = SYSTEM_CLOCK,
) -> ExecutionStats:
    provider = AnthropicProvider(
        profile=model_profile(MODEL),
        api_key=DEFAULT_API_KEY,
        base_url=running.server.base_url,
        name="sandbox",
    )
    parts = ExecutionParts.build(
        profile=provider.profile, provider_name=provider.name, task=task, store=store, settings=FAST
    )
    try:
        return await BatchExecutor(
            provider_name=provider.name,
            api=batches(provider),
            parts=parts,
            realtime=RealtimeExecutor(provider=provider, parts=parts, clock=clock),
            settings=settings,
            on_submitted=on_submitted or (lambda batch: running.clock.advance(BATCH_TIME)),
            clock=clock,
        ).run(blocks)
    finally:
        await provider.aclose()


async def primer_and_rest(store: RunStore) -> tuple[CallRecord, list[CallRecord]]:
    """The call of the one-pack batch that primed the cache, and the four of the batch after."""
    primer, rest = await store.batches()
    assert primer.priming
    assert len(primer.items) == 1
    assert not rest.priming
    assert len(rest.items) == 4
    calls = await store.calls()
    first = next(call for call in calls if call.block_ids == primer.items[0].block_ids)
    return first, [call for call in calls if call is not first]


def created_batches(running: RunningSandbox) -> int:
    return len(running.sandbox.batches.listing(limit=1000, after_id=None, before_id=None))


async def test_every_block_gets_a_result_from_batches_priced_as_batch_calls(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    blocks = corpus(40)
    store = await open_store(tmp_path, task, blocks)
    stats = await execute(running, task, blocks, store)
    results = await store.results()
    assert set(results) == {block.id for block in blocks}
    assert {result.outcome for result in results.values()} == {Outcome.RESULT}
    calls = await store.calls()
    assert len(calls) == stats.calls == 5
    assert all(call.batch for call in calls)
    batches = await store.batches()
    assert all(batch.state is BatchState.COLLECTED for batch in batches)
    assert stats.batches == len(batches) == created_batches(running) == 2
    await store.close()


async def test_the_first_batch_primes_the_cache_alone_and_the_rest_read_its_1h_entry(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    blocks = corpus(40)
    store = await open_store(tmp_path, task, blocks)
    await execute(running, task, blocks, store)
    first, later = await primer_and_rest(store)
    assert first.usage.cache_write_1h > 2000
    assert first.usage.cache_write_5m == 0
    assert sum(call.usage.cache_read > 0 for call in later) >= 3  # best effort in a batch
    await store.close()


async def test_batches_are_split_at_the_request_limit(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    blocks = corpus(40)
    store = await open_store(tmp_path, task, blocks)
    settings = replace(QUICK_POLLS, prime=False, max_requests=2)
    await execute(running, task, blocks, store, settings)
    assert [len(batch.items) for batch in await store.batches()] == [2, 2, 1]
    assert len(await store.results()) == 40
    await store.close()


async def test_errored_and_expired_items_are_resubmitted_until_every_block_has_a_result(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    faults = FaultPlan(rates=parse_rates("batch_errored=0.1,batch_expired=0.1"), seed=3)
    running = start_sandbox(SandboxConfig(rules=google_rules), faults=faults)
    blocks = corpus(80)
    store = await open_store(tmp_path, task, blocks)
    # An item that expires keeps its batch open until the 24-hour window closes.
    stats = await execute(
        running, task, blocks, store, on_submitted=lambda batch: running.clock.advance(DAY)
    )
    results = await store.results()
    assert len(results) == 80
    assert {result.outcome for result in results.values()} == {Outcome.RESULT}
    statuses = Counter(call.status for call in await store.calls())
    assert statuses["errored"] + statuses["expired"] >= 1
    assert stats.resubmitted_blocks >= 1
    assert len(await store.batches()) >= 3
    await store.close()


async def test_invalid_items_fail_with_the_providers_reason_and_are_not_retried(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(
        SandboxConfig(rules=google_rules), faults=FaultPlan(rates=parse_rates("batch_invalid=1"))
    )
    blocks = corpus(16)
    store = await open_store(tmp_path, task, blocks)
    await execute(running, task, blocks, store)
    results = await store.results()
    assert {result.outcome for result in results.values()} == {Outcome.FAILED}
    assert all("invalid" in result.reason for result in results.values())
    assert created_batches(running) == 2  # the primer and the rest, neither sent again
    await store.close()


async def test_past_the_deadline_a_running_batch_is_cancelled_and_the_rest_goes_realtime(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    blocks = corpus(24)
    store = await open_store(tmp_path, task, blocks)
    clock = SteppedClock(start=time.time())
    deadline = clock.now() + 0.3
    settings = replace(QUICK_POLLS, prime=False, deadline=deadline)
    submitted: list[float] = []
    # The sandbox's clock never moves: the batch never progresses on its own. The executor's
    # clock moves only as it polls, so the deadline passes while the batch runs.
    await execute(
        running, task, blocks, store, settings,
        on_submitted=lambda batch: submitted.append(clock.now()), clock=clock,
    )  # fmt: skip
    (submitted_at,) = submitted
    assert submitted_at < deadline
    results = await store.results()
    assert {result.outcome for result in results.values()} == {Outcome.RESULT}
    calls = await store.calls()
    assert {call.status for call in calls if call.batch} == {"canceled"}
    assert sum(not call.batch for call in calls) >= 3
    await store.close()


class EndsAfter(AnthropicBatches):
    """The sandbox's batches end once the executor's clock has reached ``ends_at``."""

    def __init__(
        self,
        provider: AnthropicProvider,
        running: RunningSandbox,
        clock: SteppedClock,
        ends_at: float,
    ) -> None:
        super().__init__(provider)
        self._running = running
        self._clock = clock
        self._ends_at = ends_at
        self.polled_at: list[float] = []
        self._ended = False

    async def status(self, remote_id: str) -> BatchStatus:
        self.polled_at.append(self._clock.now())
        if self._clock.now() >= self._ends_at and not self._ended:
            self._ended = True
            self._running.clock.advance(BATCH_TIME)
        return await super().status(remote_id)


async def test_a_batch_that_runs_an_hour_is_polled_with_backoff_on_the_executors_clock(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    blocks = corpus(8)
    store = await open_store(tmp_path, task, blocks)
    clock = SteppedClock(start=running.clock.now())
    apis: list[EndsAfter] = []

    def ends_in_an_hour(provider: AnthropicProvider) -> BatchApi:
        apis.append(EndsAfter(provider, running, clock, ends_at=clock.now() + HOUR))
        return apis[-1]

    settings = BatchSettings(poll_initial=5.0, poll_factor=2.0, poll_max=600.0, store_check=600.0)
    with anyio.fail_after(30):
        await execute(
            running, task, blocks, store, settings, on_submitted=lambda batch: None,
            batches=ends_in_an_hour, clock=clock,
        )  # fmt: skip
    results = await store.results()
    assert {result.outcome for result in results.values()} == {Outcome.RESULT}
    start = apis[0].polled_at[0]
    gaps = [later - earlier for earlier, later in pairwise(apis[0].polled_at)]
    assert gaps == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 600.0, 600.0, 600.0, 600.0, 600.0]
    assert apis[0].polled_at[-1] - start >= HOUR
    await store.close()


async def test_a_batch_submitted_before_a_crash_but_never_recorded_is_found_not_submitted_again(
    task: Task, google_rules: Path, tmp_path: Path
) -> None:
    clock = ManualClock(start=time.time())
    sandbox = Sandbox(SandboxConfig(rules=google_rules), clock=clock)
    with serve_in_thread(create_app(sandbox)) as server:
        running = RunningSandbox(sandbox=sandbox, server=server, clock=clock)
        blocks = corpus(8)
        store = await open_store(tmp_path, task, blocks)
        provider = AnthropicProvider(
            profile=model_profile(MODEL), api_key=DEFAULT_API_KEY, base_url=server.base_url
        )
        parts = ExecutionParts.build(
            profile=provider.profile, provider_name="sandbox", task=task, store=store, settings=FAST
        )
        (pack,) = parts.planner.plan(blocks)
        # The crash: the batch reached the provider, its id never reached the store.
        stored = await store.add_batch(
            label="blockpass-crashed",
            provider="sandbox",
            items=[BatchItemRecord(custom_id=pack.id, block_ids=tuple(b.id for b in pack.blocks))],
        )
        request = parts.layout.request(pack, expected_gap_seconds=HOUR)
        await AnthropicBatches(provider).submit(
            [BatchItem(custom_id=pack.id, request=request)], label=stored.label
        )
        await provider.aclose()
        assert created_batches(running) == 1
        clock.advance(BATCH_TIME)
        with anyio.fail_after(30):
            await execute(running, task, blocks, store)
        assert created_batches(running) == 1
        assert len(await store.results()) == 8
        (batch,) = await store.batches()
        assert batch.state is BatchState.COLLECTED
        assert batch.remote_id is not None
        await store.close()


async def test_an_openai_batch_where_every_request_failed_has_no_output_file_and_fails_its_blocks(
    start_sandbox: StartSandbox, task: Task, google_rules: Path, tmp_path: Path
) -> None:
    running = start_sandbox(
        SandboxConfig(rules=google_rules), faults=FaultPlan(rates=parse_rates("batch_invalid=1"))
    )
    provider = open_adapter(
        model_profile("gpt-5-mini"),
        api_key=DEFAULT_API_KEY,
        base_url=f"{running.server.base_url}/v1",
        name="sandbox",
    )
    blocks = corpus(8)
    store = await open_sqlite_store(tmp_path / "run")
    await store.open_run(fingerprint=task.fingerprint("gpt-5-mini"), settings={})
    await store.put_blocks(blocks)
    parts = ExecutionParts.build(
        profile=provider.profile, provider_name="sandbox", task=task, store=store, settings=FAST
    )
    api = provider.batches
    assert api is not None
    await BatchExecutor(
        provider_name="sandbox",
        api=api,
        parts=parts,
        realtime=RealtimeExecutor(provider=provider, parts=parts),
        settings=QUICK_POLLS,
        on_submitted=lambda batch: running.clock.advance(BATCH_TIME),
    ).run(blocks)
    await provider.aclose()
    (batch,) = running.sandbox.openai.batches.listing(limit=10, after=None)
    assert batch.status == "completed"
    assert batch.output_file_id is None
    results = await store.results()
    assert {result.outcome for result in results.values()} == {Outcome.FAILED}
    assert all("HTTP 400" in result.reason for result in results.values())
    await store.close()


class Crash(Exception):
    """The process dies here."""


class CrashBeforeStoringTheId:
    """A run store whose process dies after the provider created a batch, before its id is
    stored: the window in which a run loses track of a batch it pays for."""

    def __init__(self, store: RunStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def update_batch(
        self,
        batch_id: int,
        state: BatchState,
        *,
        remote_id: str | None = None,
        remote_status: str | None = None,
    ) -> None:
        if remote_id is not None:
            raise Crash
        await self._store.update_batch(batch_id, state, remote_status=remote_status)


async def crash_after_creating_a_batch(
    running: RunningSandbox, task: Task, blocks: list[Block], store: RunStore
) -> None:
    with pytest.raises(Crash):
        await execute(running, task, blocks, cast(RunStore, CrashBeforeStoringTheId(store)))


@contextmanager
def sandbox_on_todays_clock(rules: Path) -> Iterator[RunningSandbox]:
    """A served sandbox whose manual clock starts now, as the run store's timestamps do."""
    clock = ManualClock(start=time.time())
    sandbox = Sandbox(SandboxConfig(rules=rules), clock=clock)
    with serve_in_thread(create_app(sandbox)) as server:
        yield RunningSandbox(sandbox=sandbox, server=server, clock=clock)


def cancel_requests(running: RunningSandbox) -> list[str]:
    return [key for key in running.sandbox.stats.requests if key.endswith("/cancel")]


async def test_a_restart_never_adopts_a_batch_of_the_same_size_from_another_run(
    task: Task, google_rules: Path, tmp_path: Path
) -> None:
    with sandbox_on_todays_clock(google_rules) as running:
        blocks = corpus(8)  # one pack: every batch of either run holds one request
        other = await open_store(tmp_path / "other", task, blocks)
        await execute(running, task, blocks, other)
        ours = await open_store(tmp_path / "ours", task, blocks)
        await crash_after_creating_a_batch(running, task, blocks, ours)
        running.clock.advance(BATCH_TIME)
        with anyio.fail_after(30):
            await execute(running, task, blocks, ours)
        listed = {
            batch.id
            for batch in running.sandbox.batches.listing(limit=10, after_id=None, before_id=None)
        }
        (theirs,) = await other.batches()
        (mine,) = await ours.batches()
        assert mine.remote_id != theirs.remote_id
        assert listed == {mine.remote_id, theirs.remote_id}, "nothing was submitted twice"
        assert mine.state is BatchState.COLLECTED
        assert len(await ours.calls()) == 1
        assert len(await ours.results()) == 8
        await other.close()
        await ours.close()


class TimePassesAfterTheFirstLook(AnthropicBatches):
    """The provider's batches end between a restarted run's first and second look."""

    def __init__(self, provider: AnthropicProvider, clock: ManualClock) -> None:
        super().__init__(provider)
        self._clock = clock
        self.looks = 0

    async def find(self, label: str, *, created_after: float, count: int) -> list[str]:
        if self.looks == 1:
            self._clock.advance(BATCH_TIME)
        self.looks += 1
        return await super().find(label, created_after=created_after, count=count)


async def test_a_restart_waits_until_a_running_batch_shows_whose_it_is_and_takes_only_its_own(
    task: Task, google_rules: Path, tmp_path: Path
) -> None:
    with sandbox_on_todays_clock(google_rules) as running:
        blocks = corpus(8)
        other = await open_store(tmp_path / "other", task, blocks)
        ours = await open_store(tmp_path / "ours", task, blocks)
        other_submitted = anyio.Event()
        lookups: list[TimePassesAfterTheFirstLook] = []

        def looking(provider: AnthropicProvider) -> BatchApi:
            lookups.append(TimePassesAfterTheFirstLook(provider, running.clock))
            return lookups[-1]

        async def other_run() -> None:
            # Runs alongside: its batch is in progress while ours restarts.
            await execute(
                running, task, blocks, other, on_submitted=lambda batch: other_submitted.set()
            )

        with anyio.fail_after(30):
            async with anyio.create_task_group() as group:
                group.start_soon(other_run)
                await other_submitted.wait()
                await crash_after_creating_a_batch(running, task, blocks, ours)
                await execute(
                    running, task, blocks, ours, on_submitted=lambda batch: None, batches=looking
                )
        assert lookups[0].looks == 2, "the first look could not tell, so it looked again"
        (theirs,) = await other.batches()
        (mine,) = await ours.batches()
        assert mine.remote_id != theirs.remote_id
        assert mine.state is theirs.state is BatchState.COLLECTED
        assert created_batches(running) == 2
        assert cancel_requests(running) == []
        for store in (ours, other):
            assert len(await store.calls()) == 1
            assert len(await store.results()) == 8
            await store.close()


async def test_past_the_deadline_a_batch_that_may_be_its_own_is_left_alone_and_reported(
    task: Task, google_rules: Path, tmp_path: Path
) -> None:
    with sandbox_on_todays_clock(google_rules) as running:
        blocks = corpus(8)
        store = await open_store(tmp_path / "run", task, blocks)
        await crash_after_creating_a_batch(running, task, blocks, store)
        (remote,) = running.sandbox.batches.listing(limit=10, after_id=None, before_id=None)
        # The clock stands still: the batch is still running when the restart looks at it.
        settings = replace(QUICK_POLLS, deadline=time.time())
        with anyio.fail_after(30):
            await execute(running, task, blocks, store, settings, on_submitted=lambda b: None)
        assert cancel_requests(running) == []
        assert f"GET /v1/messages/batches/{remote.id}/results" not in running.sandbox.stats.requests
        (batch,) = await store.batches()
        assert batch.state is BatchState.UNPROVEN
        assert batch.remote_status == remote.id
        (line,) = possibly_ours(await store.batches())
        assert line.startswith(f"possibly ours, not touched: {remote.id} ")
        assert "paid for twice" in line
        calls = await store.calls()
        assert calls
        assert not any(call.batch for call in calls), "not counted as ours"
        results = await store.results()
        assert {result.outcome for result in results.values()} == {Outcome.RESULT}
        assert len(results) == 8
        await store.close()


class LosesTheFirstAnswer(TimePassesAfterTheFirstLook):
    """The provider creates the first batch, but its answer never arrives."""

    def __init__(self, provider: AnthropicProvider, clock: ManualClock) -> None:
        super().__init__(provider, clock)
        self.answers_lost = 0

    async def submit(self, items: Sequence[BatchItem], *, label: str) -> str:
        remote_id = await super().submit(items, label=label)
        if self.answers_lost == 0:
            self.answers_lost += 1
            raise TransientProviderError("the connection closed before the answer")
        return remote_id


async def test_a_batch_whose_answer_was_lost_is_collected_once_proven_and_never_sent_again(
    task: Task, google_rules: Path, tmp_path: Path
) -> None:
    with sandbox_on_todays_clock(google_rules) as running:
        blocks = corpus(8)
        other = await open_store(tmp_path / "other", task, blocks)
        await execute(running, task, blocks, other)
        ours = await open_store(tmp_path / "ours", task, blocks)
        apis: list[LosesTheFirstAnswer] = []

        def losing(provider: AnthropicProvider) -> BatchApi:
            apis.append(LosesTheFirstAnswer(provider, running.clock))
            return apis[-1]

        with anyio.fail_after(30):
            await execute(running, task, blocks, ours, on_submitted=lambda b: None, batches=losing)
        (theirs,) = await other.batches()
        (mine,) = await ours.batches()
        assert mine.remote_id not in (None, theirs.remote_id)
        assert apis[0].looks == 2, "its batch was running: it could not tell at the first look"
        assert mine.state is BatchState.COLLECTED
        assert created_batches(running) == 2, "nothing was submitted twice"
        assert len(await ours.calls()) == 1
        assert len(await ours.results()) == 8
        await other.close()
        await ours.close()
