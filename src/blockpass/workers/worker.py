"""`blockpass worker`: take pack jobs from the queue and send them, beside any number of other
workers on any machine.

A job's pack is sent as a single-process run sends its packs (`RealtimeExecutor` with the
run's `ExecutionParts`: the same requests, retries, splits and stored calls), by a worker
that holds the pack's lease in the store while it works:

- Blocks with a final result in the store are not sent again, so a job retried after its
  worker died pays only for what that worker had not stored. A call the dead worker had in
  flight stays a call start without an answer, priced at its upper bound in the report.
- The lease is renewed while the pack is in flight; a worker whose lease was taken over
  stops sending that pack (the work is someone else's now).
- Every request first reserves its share of the account's rate limits in the database
  (`account_limits.py`).
- Jobs of a worker that stopped sending heartbeats are retried by the others once it has
  been silent for ``stalled_after`` seconds (Procrastinate's stalled jobs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, replace
from functools import partial

import anyio
import procrastinate
from procrastinate.exceptions import ConnectorException

from blockpass.blocks import Block, BlockResult
from blockpass.deterministic import NO_FINDINGS, Findings, merge
from blockpass.errors import UserInputError
from blockpass.execution.batch import BatchExecutor, BatchSettings
from blockpass.execution.packwork import ExecutionParts
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.providers import Connection, Provider, parse_connection
from blockpass.reuse import copy_to_duplicates
from blockpass.store import (
    OPEN_BATCH_STATES,
    BatchState,
    CallRecord,
    Lease,
    LeaseKind,
    RunHold,
    RunStore,
    open_store_at,
)
from blockpass.workers.account_limits import AccountLimitedProvider, SharedBuckets
from blockpass.workers.jobs import QUEUE, SENDER, BatchJob, PackHeld, PackJob, register_tasks
from blockpass.workers.queue import open_queue, prepare_database, read_submission

__all__ = ["WorkerSettings", "run_worker"]

# How much longer each wait between polls of a batch is than the one before.
POLL_FACTOR = 1.5

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


class PackLost(Exception):
    """The pack's lease expired and was taken over while this worker was sending it."""


@dataclass(slots=True, kw_only=True)
class _Run:
    store: RunStore
    parts: ExecutionParts
    provider: Provider
    blocks: dict[str, Block]
    fingerprint: str


class PackWorker:
    """The runs this worker has taken jobs of, each opened once: its store, provider and
    execution parts."""

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
        self._runs: dict[str, _Run] = {}
        self._opening = anyio.Lock()
        self.packs = 0

    async def send(self, job: PackJob, app: procrastinate.App) -> None:
        run = await self._run(job.run, [*job.blocks, *job.copies])
        store = run.store
        lease = await store.claim(
            LeaseKind.PACK, [job.pack], worker=self._settings.name,
            seconds=self._settings.stalled_after,
        )  # fmt: skip
        if lease is None:
            raise PackHeld(f"pack {job.pack} of run {job.run} is held by another worker")
        try:
            pending = _pending(run, job.blocks, await store.results())
            self._on_event(f"run {job.run} pack {job.pack}: {len(pending)} blocks to send")
            parts = replace(run.parts, add_findings=partial(_with_findings, job.findings))
            parts.planner.know(job.findings)
            to_send = await parts.keep_fitting(pending)
            if to_send and not await self._send_holding(run, parts, lease, to_send):
                self._on_event(f"run {job.run} pack {job.pack}: taken over, dropped")
                return
            copies = [run.blocks[block_id] for block_id in job.copies]
            await copy_to_duplicates(store, copies, run.fingerprint)
        finally:
            with anyio.CancelScope(shield=True):
                await store.release(lease)
        self.packs += 1
        self._on_event(f"run {job.run} pack {job.pack}: done")

    async def submit_batch(self, job: BatchJob, app: procrastinate.App) -> None:
        """Submit the job's packs as one provider batch and queue its first poll. A retried
        job finds the batch an earlier attempt stored: a batch is never submitted twice."""
        named = [*(block_id for pack in job.packs for block_id in pack), *job.copies]
        run = await self._run(job.run, named)
        wanted = {block_id for pack in job.packs for block_id in pack}
        earlier = [
            batch
            for batch in await run.store.batches(open_only=True)
            if {block_id for item in batch.items for block_id in item.block_ids} == wanted
        ]
        batch = earlier[0] if earlier else None
        if batch is None:
            stored = await run.store.results()
            run.parts.planner.know(job.findings)
            packs = [
                run.parts.planner.pack_of(blocks)
                for pack in job.packs
                if (blocks := _pending(run, pack, stored))
            ]
            if not packs:
                return
            batch = await self._batch_executor(run, job).submit_packs(packs)
            if batch is None:
                self._on_event(f"run {job.run}: a batch was refused; its packs go in realtime")
                refused = [block for pack in packs for block in pack.blocks]
                await self._queue_realtime(run, job, refused, app)
                return
        self._on_event(f"run {job.run}: batch {batch.label} submitted")
        await replace(job, batch=batch.id, delay=job.poll_initial).defer(app)

    async def poll_batch(self, job: BatchJob, app: procrastinate.App) -> None:
        """Poll the job's batch once; queue the next poll while it runs, collect it when it
        has ended (collecting twice stores nothing twice), and queue what came back without
        a result as realtime packs."""
        named = [*(block_id for pack in job.packs for block_id in pack), *job.copies]
        run = await self._run(job.run, named)
        batch = next((each for each in await run.store.batches() if each.id == job.batch), None)
        if batch is None or batch.state not in OPEN_BATCH_STATES:
            return
        api = run.provider.batches
        if api is None:
            raise UserInputError(f"run {job.run}: this worker's provider has no batch API")
        if batch.state is BatchState.SUBMITTED and batch.remote_id is not None:
            status = await api.status(batch.remote_id)
            if not status.ended:
                await run.store.update_batch(
                    batch.id, BatchState.SUBMITTED, remote_status=status.status
                )
                delay = min(job.delay * POLL_FACTOR, job.poll_max)
                await replace(job, delay=delay).defer(app)
                return
            await run.store.update_batch(batch.id, BatchState.ENDED, remote_status=status.status)
        blocks = [run.blocks[block_id] for pack in job.packs for block_id in pack]
        again = await self._batch_executor(run, job).collect(batch, blocks)
        self._on_event(f"run {job.run}: batch {batch.label} collected, {len(again)} to resend")
        if again:
            await self._queue_realtime(run, job, again, app)
        else:
            copies = [run.blocks[block_id] for block_id in job.copies]
            await copy_to_duplicates(run.store, copies, run.fingerprint)

    def _batch_executor(self, run: _Run, job: BatchJob) -> BatchExecutor:
        api = run.provider.batches
        if api is None:
            raise UserInputError(f"run {job.run}: this worker's provider has no batch API")
        parts = replace(run.parts, add_findings=partial(_with_findings, job.findings))
        parts.planner.know(job.findings)
        return BatchExecutor(
            provider_name=run.provider.name,
            api=api,
            parts=parts,
            realtime=RealtimeExecutor(provider=run.provider, parts=parts),
            settings=BatchSettings(poll_initial=job.poll_initial, poll_max=job.poll_max),
        )

    async def _queue_realtime(
        self, run: _Run, job: BatchJob, blocks: list[Block], app: procrastinate.App
    ) -> None:
        """Realtime pack jobs for blocks a batch did not answer, each with the copies of its
        blocks' texts."""
        packs = run.parts.planner.plan(blocks)
        copies_of: dict[str, list[str]] = {}
        for block_id in job.copies:
            copies_of.setdefault(run.blocks[block_id].content_hash, []).append(block_id)
        for pack in packs:
            await PackJob(
                run=job.run,
                pack=pack.id,
                blocks=tuple(block.id for block in pack.blocks),
                copies=tuple(
                    copy for block in pack.blocks for copy in copies_of.pop(block.content_hash, ())
                ),
                findings={
                    block.id: job.findings[block.id]
                    for block in pack.blocks
                    if block.id in job.findings
                },
            ).defer(app)
        leftover = [run.blocks[block_id] for ids in copies_of.values() for block_id in ids]
        await copy_to_duplicates(run.store, leftover, run.fingerprint)

    async def _send_holding(
        self, run: _Run, parts: ExecutionParts, lease: Lease, blocks: list[Block]
    ) -> bool:
        """Send while holding the pack's lease; False if it was taken over meanwhile."""

        async def keep_lease(held: Lease) -> None:
            while True:
                await anyio.sleep(self._settings.stalled_after / 3)
                renewed = await run.store.renew(held, seconds=self._settings.stalled_after)
                if renewed is None:
                    raise PackLost(f"pack {held.key}: its lease was taken over")
                held = renewed

        kept = True
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(keep_lease, lease)
                await RealtimeExecutor(provider=run.provider, parts=parts).run(blocks)
                group.cancel_scope.cancel()
        except* PackLost:
            kept = False
        return kept

    async def _run(self, name: str, block_ids: Sequence[str] = ()) -> _Run:
        """The run, opened once; its blocks read again when a job names one this worker
        has not seen (the run was submitted again with more documents)."""
        async with self._opening:
            if name not in self._runs:
                self._runs[name] = await self._open_run(name)
            run = self._runs[name]
            if any(block_id not in run.blocks for block_id in block_ids):
                run.blocks = {block.id: block for block in await run.store.blocks()}
            return run

    async def _open_run(self, name: str) -> _Run:
        submission = await read_submission(self._url, name)
        connection = parse_connection(submission.connection)
        store = await self._stack.enter_async_context(
            open_store_at(self._url, run=name, hold=RunHold.SHARED)
        )
        if not await store.join_run():
            raise UserInputError(f"run {name!r} has a submission but no run in its store")
        provider = await self._stack.enter_async_context(self._connect(connection))
        if provider.name != connection.vendor:
            raise UserInputError(
                f"run {name!r} was submitted for {connection.vendor}; this worker connects"
                f" to {provider.name}"
            )
        buckets = await self._stack.enter_async_context(
            SharedBuckets(self._url, self._account(connection))
        )
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
        )
        await parts.resume_lane()
        worker = self._settings.name
        limited = AccountLimitedProvider(
            provider,
            buckets,
            measure=parts.layout.input_tokens,
            on_send=lambda: self._on_event(f"run {name}: sending a request ({worker})"),
        )
        return _Run(
            store=store,
            parts=parts,
            provider=limited,
            blocks={block.id: block for block in await store.blocks()},
            fingerprint=submission.task.fingerprint(provider.profile.results_key),
        )

    def _call_event(self, run: str, call: CallRecord) -> None:
        blocks = len(call.block_ids)
        self._on_event(f"run {run} pack {call.pack_id}: call {call.status}, {blocks} blocks")


def _pending(run: _Run, block_ids: Sequence[str], stored: Mapping[str, BlockResult]) -> list[Block]:
    return [
        run.blocks[block_id]
        for block_id in block_ids
        if not _ended(stored.get(block_id), run.blocks[block_id])
    ]


def _ended(result: BlockResult | None, block: Block) -> bool:
    return result is not None and result.content_hash == block.content_hash


def _with_findings(
    findings: Mapping[str, Findings], result: BlockResult, block: Block
) -> BlockResult:
    return merge(result, findings.get(block.id, NO_FINDINGS), block)


async def run_worker(
    url: str,
    settings: WorkerSettings,
    *,
    connect: Connect,
    account: Callable[[Connection], str],
    on_event: Callable[[str], None] = lambda line: None,
) -> int:
    """Work until stopped (or, ``exit_when_done``, until the queue is empty); return the
    number of packs this worker sent."""
    await prepare_database(url)
    app = register_tasks(open_queue(url))
    async with AsyncExitStack() as stack, app.open_async():
        sender = PackWorker(
            url, settings, stack, connect=connect, account=account, on_event=on_event
        )
        async with anyio.create_task_group() as group:
            group.start_soon(_watch_queue, app, settings, group.cancel_scope)
            await app.run_worker_async(
                queues=[QUEUE],
                name=settings.name,
                concurrency=settings.concurrency,
                additional_context={SENDER: sender},
                update_heartbeat_interval=settings.stalled_after / 4,
                stalled_worker_timeout=settings.stalled_after,
                fetch_job_polling_interval=min(5.0, settings.stalled_after / 4),
                delete_jobs="never",
            )
            group.cancel_scope.cancel()
    return sender.packs


async def _watch_queue(
    app: procrastinate.App, settings: WorkerSettings, stop: anyio.CancelScope
) -> None:
    """Retry the jobs of workers gone silent; stop the worker once the queue is empty when
    it should exit then."""
    manager, connector = app.job_manager, app.connector
    while True:
        await anyio.sleep(settings.stalled_after / 4)
        stalled = await manager.get_stalled_jobs(
            queue=QUEUE, seconds_since_heartbeat=settings.stalled_after
        )
        for job in stalled:
            try:
                await manager.retry_job(job)
            except ConnectorException:
                continue  # another worker retried it first
        if settings.exit_when_done:
            row = await connector.execute_query_one_async(
                "SELECT count(*) AS open FROM procrastinate_jobs WHERE queue_name = %(queue)s"
                " AND status IN ('todo', 'doing')",
                queue=QUEUE,
            )
            if row["open"] == 0:
                stop.cancel()
                return
