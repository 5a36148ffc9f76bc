"""`blockpass submit`: read a job's documents, store its blocks, plan its packs and queue one
Procrastinate job per pack (or, ``--mode batch``, one per provider batch), for workers on
any machine (`worker.py`) to send.

Everything before sending is what a single-process run does (`pipeline.run_job`): the same
pre-filter, choice of context, retrieval, reuse of stored results, rule engine and pack
planning, on the same store, so the workers' results are the ones `blockpass run` would have
written. In retrieve mode the retrieval is kept for the workers (`retrieval.py`): they read
each block's units and lay out its pack's context as this plan did. A pack's job carries what
is particular to its blocks: their ids, the rule engine's findings for them, and the blocks
elsewhere in the run with the same text, which take its result when it is stored.

Submitting the same run again once its jobs have ended queues what is still to do (failures,
blocks of changed text): blocks with a final result are not planned again. While jobs of the
run wait or run, it is refused: packs planned anew could hold blocks a waiting job holds, and
two workers would send them at once.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace

import anyio

from blockpass.context import ContextMode
from blockpass.context_choice import retrieved_rules
from blockpass.deterministic import NO_FINDINGS, Findings, engine_result
from blockpass.errors import UserInputError
from blockpass.execution.lane_runs import Mode
from blockpass.execution.packwork import ExecutionParts
from blockpass.lanes import lane_name
from blockpass.packing import Pack
from blockpass.pipeline import JobSpec, choose_run_context, open_job_guide, read_job_inputs
from blockpass.prefilter import prefilter
from blockpass.prices import PriceTable
from blockpass.providers import Connection
from blockpass.providers.base import CacheTtl
from blockpass.reuse import reuse_stored_results, unfinished
from blockpass.store import RunHold, open_store_at
from blockpass.workers.jobs import BatchJob, PackJob, open_jobs, register_tasks
from blockpass.workers.queue import (
    Submission,
    open_queue,
    prepare_database,
    save_submission,
)

__all__ = ["Submitted", "submit_job"]

# Packs per provider batch, unless --max-batch-requests says fewer (both vendors take more).
BATCH_PACKS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    blocks: int
    already_done: int
    to_send: int
    packs: int
    jobs: int
    # What the requests carry of the guide, and why (``ContextChoice.summary``).
    context: str


def refuse_unsupported(spec: JobSpec) -> None:
    """What workers do not run yet, said before anything is read."""
    if spec.mode is Mode.AUTO:
        raise UserInputError("submit sends in realtime or in provider batches: --mode one of them")
    if spec.mcp_servers or spec.context is ContextMode.AGENTIC:
        raise UserInputError("submit does not run tool loops: leave --mcp out")


async def submit_job(
    spec: JobSpec, connection: Connection, prices: PriceTable, *, url: str, run: str
) -> Submitted:
    """Store the job's blocks in run ``run`` of the database at ``url`` and queue its packs.
    ``prices``: what ``--context auto`` compares the two modes at."""
    refuse_unsupported(spec)
    if spec.mode is Mode.BATCH and not connection.has_batch_api:
        raise UserInputError(f"{connection.profile.id} has no batch API: use --mode realtime")
    inputs, blocks, task, check = read_job_inputs(spec)
    # Opened before the database is touched, so that a bad guide or --core leaves no run.
    guide = (
        None
        if spec.context is ContextMode.FULL
        else await anyio.to_thread.run_sync(open_job_guide, spec, task)
    )
    profile = connection.profile
    await prepare_database(url)
    waiting = await open_jobs(url, run)
    if waiting:
        raise UserInputError(
            f"run {run} has {waiting:,} pack jobs waiting or running: submit it again once"
            " they have ended (blockpass status), or under another --run"
        )
    async with open_store_at(url, run=run, hold=RunHold.SHARED) as store:
        pending = unfinished(blocks, await store.results())
        to_do, skipped = prefilter(pending, spec.prefilter)
        choice, retrieved = await choose_run_context(
            spec, task, guide, to_do, profile, prices, store
        )
        whole_task, task = task, choice.task(task)
        fingerprint = task.fingerprint(profile.results_key)
        lane = lane_name(connection.vendor, profile)
        await store.open_run(
            fingerprint=fingerprint,
            settings={
                "provider": connection.vendor,
                "model": profile.id,
                "guide": str(spec.guide),
                "context": choice.mode.value,
            },
            lanes={lane: fingerprint},
        )
        await store.put_blocks(blocks)
        await store.record_results(skipped)
        to_send, copies = await reuse_stored_results(store, to_do, fingerprint)
        sending = {block.id for block in to_send}
        findings = check.findings(inputs.documents, sending) if check else {}
        if not task.needs_model:
            await store.record_results(
                [engine_result(block, findings.get(block.id, NO_FINDINGS)) for block in to_send]
            )
            to_send = []
        if choice.guide is not None and choice.mode is ContextMode.RETRIEVE and retrieved is None:
            retrieved = await anyio.to_thread.run_sync(
                retrieved_rules, choice.guide, to_send, spec.retrieval
            )
        parts = ExecutionParts.build(
            profile=profile,
            provider_name=connection.vendor,
            task=task,
            store=store,
            settings=spec.execution,
            retrieved=retrieved,
            findings=findings,
        )
        await parts.resume_lane()
        to_send = await parts.keep_fitting(to_send)
        planner = parts.planner
        if spec.mode is Mode.BATCH:
            # As BatchExecutor plans: a batch's cache entries live an hour.
            bound = planner.batch_pack_bound(spec.batch.max_blocks)
            packs = planner.plan(to_send, max_blocks=bound, ttl=CacheTtl.ONE_HOUR)
        else:
            packs = planner.plan(to_send)
    submitted_at = time.time()
    await save_submission(
        url,
        Submission(
            run=run,
            connection=f"{connection.vendor}:{profile.id}",
            task=task,
            execution=spec.execution,
            submitted_at=submitted_at,
            whole_task=None if task is whole_task else whole_task,
            context=replace(choice, guide=None),
        ),
        inputs.documents,
        # Workers lay out each pack's context as this plan did: with its shared units.
        None if retrieved is None else replace(retrieved, shared=parts.planner.shared_units),
    )
    copies_of: dict[str, list[str]] = defaultdict(list)
    for copy in copies:
        copies_of[copy.content_hash].append(copy.id)

    def copies_in(group: Sequence[Pack]) -> tuple[str, ...]:
        return tuple(
            copy
            for pack in group
            for block in pack.blocks
            for copy in copies_of.pop(block.content_hash, ())
        )

    def findings_in(group: Sequence[Pack]) -> dict[str, Findings]:
        return {
            block.id: found
            for pack in group
            for block in pack.blocks
            if (found := findings.get(block.id, NO_FINDINGS)) != NO_FINDINGS
        }

    app = register_tasks(open_queue(url))
    async with app.open_async():
        size = spec.batch.max_requests or BATCH_PACKS
        # As a single-process run does: the pack that writes the most of what the others
        # read (the prefix, or the prefix and the shared units) goes alone first; the other
        # batches are submitted once it has ended, so they read its cache entries.
        groups = [packs]
        priming = False
        if spec.batch.prime and len(packs) > 1:
            writer = max(packs, key=parts.layout.cached_tokens)
            priming = parts.layout.cached_tokens(writer) > 0
            if priming:
                groups = [[writer], [pack for pack in packs if pack is not writer]]
        batches = [
            group[start : start + size] for group in groups for start in range(0, len(group), size)
        ]
        if spec.mode is Mode.BATCH:
            primer = ""
            for number, group in enumerate(batches):
                job = BatchJob(
                    run=run,
                    packs=tuple(tuple(block.id for block in pack.blocks) for pack in group),
                    copies=copies_in(group),
                    findings=findings_in(group),
                    poll_initial=spec.batch.poll_initial,
                    poll_max=spec.batch.poll_max,
                    submitted=submitted_at,
                    priming=priming and number == 0,
                    after=primer,
                )
                await job.defer(app)
                if job.priming:
                    primer = job.lock
        else:
            # Workers take jobs in the order they were queued: the largest answers first, as
            # a single-process run sends them, so the run's last calls are its shortest.
            for pack in sorted(packs, key=lambda pack: pack.estimated_output, reverse=True):
                await PackJob(
                    run=run,
                    pack=pack.id,
                    blocks=tuple(block.id for block in pack.blocks),
                    copies=copies_in([pack]),
                    findings=findings_in([pack]),
                    submitted=submitted_at,
                ).defer(app)
    return Submitted(
        blocks=len(blocks),
        already_done=len(blocks) - len(pending),
        to_send=len(to_send),
        packs=len(packs),
        jobs=len(batches) if spec.mode is Mode.BATCH else len(packs),
        context=choice.summary(),
    )
