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
- A batch job holds a lease too, keyed by its lock, while it looks for its stored batch and
  submits it: a job retried while its first attempt still runs never submits beside it.
  Batch jobs after the priming batch queue themselves again until its jobs have ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from functools import partial
from typing import Any

import anyio
import procrastinate
from procrastinate.exceptions import ConnectorException

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.deterministic import NO_FINDINGS, Findings, merge
from blockpass.errors import UserInputError
from blockpass.execution.batch import BatchExecutor, BatchSettings
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.providers import Connection
from blockpass.reuse import copy_to_duplicates
from blockpass.store import OPEN_BATCH_STATES, BatchState, Lease, LeaseKind
from blockpass.workers.escalation import EscalationJob, escalate_run
from blockpass.workers.jobs import (
    QUEUE,
    SENDER,
    BatchJob,
    PackHeld,
    PackJob,
    lock_held,
    register_tasks,
)
from blockpass.workers.queue import open_queue, prepare_database
from blockpass.workers.runs import Connect, WorkerRun, WorkerRuns, WorkerSettings

__all__ = ["WorkerSettings", "run_worker"]

# How much longer each wait between polls of a batch is than the one before.
POLL_FACTOR = 1.5


class PackLost(Exception):
    """The pack's lease expired and was taken over while this worker was sending it."""


class PackWorker:
    """Sends the jobs of every run it is given (`PackSender`)."""

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
        self._on_event = on_event
        self._runs = WorkerRuns(
            url, settings, stack, connect=connect, account=account, on_event=on_event
        )
        self.packs = 0

    async def send(self, job: PackJob, app: procrastinate.App) -> None:
        run = await self._runs.get(job.run, job.submitted, [*job.blocks, *job.copies], job.lane)
        store = run.store
        held = f"pack {job.pack} of run {job.run} is held by another worker"
        async with self._leased(run, job.pack, held) as lease:
            pending = _pending(run, job.blocks, await store.results(job.blocks), again=job.again)
            self._on_event(f"run {job.run} pack {job.pack}: {len(pending)} blocks to send")
            parts = replace(run.parts, add_findings=partial(_with_findings, job.findings))
            parts.planner.know(job.findings)
            to_send = await parts.keep_fitting(pending)
            sending = partial(RealtimeExecutor(provider=run.provider, parts=parts).run, to_send)
            try:
                kept = not to_send or await self._holding(run, lease, sending)
            finally:
                with anyio.CancelScope(shield=True):
                    await self._runs.store_context_counts(run, job.blocks)
            if not kept:
                self._on_event(f"run {job.run} pack {job.pack}: taken over, dropped")
                return
            copies = [run.blocks[block_id] for block_id in job.copies]
            await copy_to_duplicates(store, copies, run.fingerprint)
        self.packs += 1
        self._on_event(f"run {job.run} pack {job.pack}: done")

    async def escalate(self, args: Mapping[str, Any], app: procrastinate.App) -> None:
        job = EscalationJob.from_args(args)
        await escalate_run(self._runs, self._url, job, app, self._on_event)

    async def submit_batch(self, job: BatchJob, app: procrastinate.App) -> None:
        """Submit the job's packs as one provider batch and queue its first poll. A retried
        job finds the batch an earlier attempt stored: a batch is never submitted twice. A
        job that comes after the priming batch queues itself again until that has ended."""
        if job.after and await lock_held(app, job.after):
            # The priming batch has not ended: its cache entry is not there to read yet.
            delay = min(max(job.delay * POLL_FACTOR, job.poll_initial), job.poll_max)
            await replace(job, delay=delay).defer(app)
            return
        named = [*(block_id for pack in job.packs for block_id in pack), *job.copies]
        run = await self._runs.get(job.run, job.submitted, named)
        # Held while the batch is looked for and submitted: a job retried while its first
        # attempt still runs (a heartbeat late on a busy machine) waits instead of
        # submitting the same packs beside it.
        held = f"batch {job.lock} is being submitted by another worker"
        async with self._leased(run, job.lock, held) as lease:
            try:
                await self._holding(run, lease, partial(self._submit_batch, run, job, app))
            finally:
                with anyio.CancelScope(shield=True):
                    await self._runs.store_context_counts(run, named)

    async def _submit_batch(self, run: WorkerRun, job: BatchJob, app: procrastinate.App) -> None:
        wanted = {block_id for pack in job.packs for block_id in pack}
        earlier = [
            batch
            for batch in await run.store.batches(open_only=True)
            if {block_id for item in batch.items for block_id in item.block_ids} == wanted
        ]
        batch = earlier[0] if earlier else None
        if batch is None:
            stored = await run.store.results(wanted)
            run.parts.planner.know(job.findings)
            packs = [
                run.parts.planner.pack_of(blocks)
                for pack in job.packs
                if (blocks := _pending(run, pack, stored))
            ]
            if not packs:
                return
            batch = await self._batch_executor(run, job).submit_packs(packs, priming=job.priming)
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
        run = await self._runs.get(job.run, job.submitted, named)
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

    def _batch_executor(self, run: WorkerRun, job: BatchJob) -> BatchExecutor:
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
        self, run: WorkerRun, job: BatchJob, blocks: list[Block], app: procrastinate.App
    ) -> None:
        """Realtime pack jobs for blocks a batch did not answer, each with the copies of its
        blocks' texts."""
        packs = run.parts.planner.plan(blocks)
        # Planned here only to be cut into jobs: the jobs lay their packs out again and count
        # them then.
        run.prepared.context_counts.take([block.id for block in blocks])
        copies_of: dict[str, list[str]] = {}
        for block_id in job.copies:
            copies_of.setdefault(run.blocks[block_id].content_hash, []).append(block_id)
        for pack in packs:
            await PackJob(
                run=job.run,
                submitted=job.submitted,
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

    @asynccontextmanager
    async def _leased(self, run: WorkerRun, key: str, held: str) -> AsyncIterator[Lease]:
        """The store's lease on a pack (or a batch) of ``run`` while the block runs, released
        after; ``PackHeld`` (the job is retried later) while another live worker has it."""
        lease = await run.store.claim(
            LeaseKind.PACK, [key], worker=self._settings.name, seconds=self._settings.stalled_after
        )
        if lease is None:
            raise PackHeld(held)
        try:
            yield lease
        finally:
            with anyio.CancelScope(shield=True):
                await run.store.release(lease)

    async def _holding(
        self, run: WorkerRun, lease: Lease, work: Callable[[], Awaitable[object]]
    ) -> bool:
        """Do ``work`` while renewing ``lease``; False if it was taken over meanwhile."""

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
                await work()
                group.cancel_scope.cancel()
        except* PackLost:
            kept = False
        return kept


def _pending(
    run: WorkerRun,
    block_ids: Sequence[str],
    stored: Mapping[str, BlockResult],
    *,
    again: bool = False,
) -> list[Block]:
    """The blocks without a result for their text (``again``: or with a failure)."""
    return [
        run.blocks[block_id]
        for block_id in block_ids
        if not _ended(stored.get(block_id), run.blocks[block_id], again)
    ]


def _ended(result: BlockResult | None, block: Block, again: bool) -> bool:
    if result is None or result.content_hash != block.content_hash:
        return False
    return not (again and result.outcome is Outcome.FAILED)


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
