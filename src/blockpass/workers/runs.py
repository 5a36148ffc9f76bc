"""The runs a worker has taken jobs of, each opened once: its store, its provider (through
the account's shared rate limits) and what its submission makes of it (`Prepared`: the
execution parts, with the retrieval `submit` kept in retrieve mode; the task's fingerprint).

A job names the submission it belongs to; a worker that opened the run for an earlier one
(the run was submitted again: another task, more documents, other retrieved rules) prepares
it again before sending.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, replace
from functools import partial

import anyio

from blockpass.blocks import Block
from blockpass.errors import UserInputError
from blockpass.execution.packwork import ExecutionParts
from blockpass.lanes import lane_name
from blockpass.providers import Connection, Provider, parse_connection
from blockpass.store import CallRecord, RunHold, RunStore, open_store_at
from blockpass.workers.account_limits import AccountLimitedProvider, SharedBuckets
from blockpass.workers.context_counts import PackCounts, save_counts
from blockpass.workers.queue import Submission, connect, read_submission
from blockpass.workers.retrieval import load_retrieval

__all__ = ["Connect", "Prepared", "WorkerRun", "WorkerRuns", "WorkerSettings"]

Connect = Callable[[Connection], AbstractAsyncContextManager[Provider]]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerSettings:
    name: str
    # Packs in flight at once in this worker.
    concurrency: int = 4
    # Seconds without a heartbeat after which a worker's jobs are retried elsewhere; also
    # how long a pack's lease lasts between renewals.
    stalled_after: float = 30.0
    # Stop once no job of any run is waiting or running (else: until SIGINT or SIGTERM).
    exit_when_done: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """What a run's submission makes of it in a worker."""

    parts: ExecutionParts
    fingerprint: str
    submitted: float
    # Retrieve mode: each pack's counts as it is laid out, until its job stores them.
    context_counts: PackCounts


@dataclass(slots=True, kw_only=True)
class WorkerRun:
    name: str
    store: RunStore
    provider: Provider
    connection: str
    blocks: dict[str, Block]
    prepared: Prepared

    @property
    def parts(self) -> ExecutionParts:
        return self.prepared.parts

    @property
    def fingerprint(self) -> str:
        return self.prepared.fingerprint


class WorkerRuns:
    """The runs this worker has taken jobs of, by name."""

    def __init__(
        self,
        url: str,
        settings: WorkerSettings,
        stack: AsyncExitStack,
        *,
        connect: Connect,
        account: Callable[[Connection], str],
        on_event: Callable[[str], None],
    ) -> None:
        self._url = url
        self._settings = settings
        self._stack = stack
        self._connect = connect
        self._account = account
        self._on_event = on_event
        self._runs: dict[str, WorkerRun] = {}
        self._opening = anyio.Lock()

    async def get(
        self, name: str, submitted: float, block_ids: Sequence[str], lane: str = ""
    ) -> WorkerRun:
        """The run, opened once, and prepared again for a job of another submission; its
        blocks read again when a job names one this worker has not seen. ``lane``: the
        "vendor:model" of a routed run's tier (`routes.py`), "" for the submission's."""
        async with self._opening:
            key = f"{name}\n{lane}"
            if key not in self._runs:
                self._runs[key] = await self._open_run(name, lane)
            run = self._runs[key]
            if run.prepared.submitted != submitted:
                submission = await read_submission(self._url, name)
                if not lane and submission.connection != run.connection:
                    raise UserInputError(
                        f"run {name!r} was submitted again for {submission.connection}: start"
                        " this worker again to send it"
                    )
                run.prepared = await self._prepare(name, run.store, run.provider, submission)
            if any(block_id not in run.blocks for block_id in block_ids):
                run.blocks = {block.id: block for block in await run.store.blocks()}
            return run

    async def _open_run(self, name: str, lane: str) -> WorkerRun:
        submission = await read_submission(self._url, name)
        connection = parse_connection(lane or submission.connection)
        store = await self._stack.enter_async_context(
            open_store_at(self._url, run=name, hold=RunHold.SHARED)
        )
        lane_fingerprint = {
            lane_name(connection.vendor, connection.profile): submission.task.fingerprint(
                connection.profile.results_key
            )
        }
        if not await store.join_run(lanes=lane_fingerprint):
            raise UserInputError(f"run {name!r} has a submission but no run in its store")
        provider = await self._stack.enter_async_context(self._connect(connection))
        if provider.name != connection.vendor:
            raise UserInputError(
                f"run {name!r} was submitted for {connection.vendor}; this worker connects"
                f" to {provider.name}"
            )
        # The provider limits each model (class) of an account apart, as `run` schedules
        # each lane apart: a routed run's tiers do not share buckets.
        buckets = await self._stack.enter_async_context(
            SharedBuckets(self._url, f"{self._account(connection)}/{connection.profile.id}")
        )
        worker = self._settings.name
        run: WorkerRun
        limited = AccountLimitedProvider(
            provider,
            buckets,
            # The run's layout of the moment: a later submission may bring another task.
            measure=lambda request: run.parts.layout.input_tokens(request),
            on_send=lambda: self._on_event(f"run {name}: sending a request ({worker})"),
        )
        run = WorkerRun(
            name=name,
            store=store,
            provider=limited,
            connection=lane or submission.connection,
            blocks={block.id: block for block in await store.blocks()},
            prepared=await self._prepare(name, store, provider, submission),
        )
        return run

    async def _prepare(
        self, name: str, store: RunStore, provider: Provider, submission: Submission
    ) -> Prepared:
        async with await connect(self._url) as connection:
            retrieved = await load_retrieval(connection, name)
        counts = PackCounts()
        if retrieved is not None:
            retrieved = replace(retrieved, on_pack=counts.add)
        parts = ExecutionParts.build(
            profile=provider.profile,
            provider_name=provider.name,
            task=submission.task,
            store=store,
            # Blocks leased by a worker that died are free once it is known dead: as soon as
            # its jobs are retried, not after the single-process run's two minutes.
            settings=replace(
                submission.execution,
                lease_seconds=self._settings.stalled_after,
                lease_poll_seconds=min(
                    submission.execution.lease_poll_seconds, self._settings.stalled_after / 4
                ),
            ),
            on_call=partial(self._call_event, name),
            retrieved=retrieved,
        )
        await parts.resume_lane()
        return Prepared(
            parts=parts,
            fingerprint=submission.task.fingerprint(provider.profile.results_key),
            submitted=submission.submitted_at,
            context_counts=counts,
        )

    async def store_context_counts(self, run: WorkerRun, block_ids: Sequence[str]) -> None:
        """What the packs of these blocks carried (retrieve mode), for the run's report."""
        taken = run.prepared.context_counts.take(block_ids)
        if taken is not None:
            async with await connect(self._url) as connection:
                await save_counts(connection, run.name, taken)

    def _call_event(self, run: str, call: CallRecord) -> None:
        blocks = len(call.block_ids)
        self._on_event(f"run {run} pack {call.pack_id}: call {call.status}, {blocks} blocks")
