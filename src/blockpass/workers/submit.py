"""`blockpass submit`: read a job's documents, store its blocks, plan its packs and queue one
Procrastinate job per pack (or, ``--mode batch``, one per provider batch), for workers on
any machine (`worker.py`) to send.

Everything before sending is what a single-process run does (`pipeline.run_job`): the same
pre-filter, reuse of stored results, rule engine and pack planning, on the same store, so the
workers' results are the ones `blockpass run` would have written. A pack's job carries what
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
from dataclasses import dataclass

from blockpass.blocks import Block
from blockpass.context import ContextMode
from blockpass.deterministic import NO_FINDINGS, Findings, engine_result
from blockpass.errors import UserInputError
from blockpass.execution.lane_runs import Mode
from blockpass.execution.packwork import ExecutionParts
from blockpass.lanes import lane_name
from blockpass.packing import Pack
from blockpass.pipeline import JobSpec, read_job_inputs
from blockpass.prefilter import prefilter
from blockpass.providers import Connection
from blockpass.reuse import reuse_stored_results, unfinished
from blockpass.store import RunHold, RunStore, open_store_at
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


def refuse_unsupported(spec: JobSpec) -> None:
    """What workers do not run yet, said before anything is read."""
    if spec.mode is Mode.AUTO:
        raise UserInputError("submit sends in realtime or in provider batches: --mode one of them")
    if spec.context is not ContextMode.FULL:
        raise UserInputError("submit sends the whole guide with every pack: leave --context out")
    if spec.mcp_servers:
        raise UserInputError("submit does not run tool loops: leave --mcp out")


async def submit_job(spec: JobSpec, connection: Connection, *, url: str, run: str) -> Submitted:
    """Store the job's blocks in run ``run`` of the database at ``url`` and queue its packs."""
    refuse_unsupported(spec)
    if spec.mode is Mode.BATCH and not connection.has_batch_api:
        raise UserInputError(f"{connection.profile.id} has no batch API: use --mode realtime")
    inputs, blocks, task, check = read_job_inputs(spec)
    profile = connection.profile
    await prepare_database(url)
    waiting = await open_jobs(url, run)
    if waiting:
        raise UserInputError(
            f"run {run} has {waiting:,} pack jobs waiting or running: submit it again once"
            " they have ended (blockpass status), or under another --run"
        )
    async with open_store_at(url, run=run, hold=RunHold.SHARED) as store:
        fingerprint = task.fingerprint(profile.results_key)
        lane = lane_name(connection.vendor, profile)
        await store.open_run(
            fingerprint=fingerprint,
            settings={
                "provider": connection.vendor,
                "model": profile.id,
                "guide": str(spec.guide),
                "context": ContextMode.FULL.value,
            },
            lanes={lane: fingerprint},
        )
        await store.put_blocks(blocks)
        to_send, copies, done = await _blocks_to_send(store, blocks, spec, fingerprint)
        sending = {block.id for block in to_send}
        findings = check.findings(inputs.documents, sending) if check else {}
        if not task.needs_model:
            await store.record_results(
                [engine_result(block, findings.get(block.id, NO_FINDINGS)) for block in to_send]
            )
            to_send = []
        parts = ExecutionParts.build(
            profile=profile,
            provider_name=connection.vendor,
            task=task,
            store=store,
            settings=spec.execution,
            findings=findings,
        )
        await parts.resume_lane()
        to_send = await parts.keep_fitting(to_send)
        batch = spec.mode is Mode.BATCH
        packs = parts.planner.plan(to_send, max_blocks=spec.batch.max_blocks if batch else None)
    await save_submission(
        url,
        Submission(
            run=run,
            connection=f"{connection.vendor}:{profile.id}",
            task=task,
            execution=spec.execution,
            submitted_at=time.time(),
        ),
        inputs.documents,
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
        if spec.mode is Mode.BATCH:
            for start in range(0, len(packs), size):
                group = packs[start : start + size]
                await BatchJob(
                    run=run,
                    packs=tuple(tuple(block.id for block in pack.blocks) for pack in group),
                    copies=copies_in(group),
                    findings=findings_in(group),
                    poll_initial=spec.batch.poll_initial,
                    poll_max=spec.batch.poll_max,
                ).defer(app)
        else:
            for pack in packs:
                await PackJob(
                    run=run,
                    pack=pack.id,
                    blocks=tuple(block.id for block in pack.blocks),
                    copies=copies_in([pack]),
                    findings=findings_in([pack]),
                ).defer(app)
    return Submitted(
        blocks=len(blocks),
        already_done=done,
        to_send=len(to_send),
        packs=len(packs),
        jobs=len(range(0, len(packs), size)) if spec.mode is Mode.BATCH else len(packs),
    )


async def _blocks_to_send(
    store: RunStore, blocks: list[Block], spec: JobSpec, fingerprint: str
) -> tuple[list[Block], list[Block], int]:
    """The blocks to send, the copies that take their results, and how many blocks had a
    final result already; skips and reused results are stored on the way."""
    pending = unfinished(blocks, await store.results())
    to_do, skipped = prefilter(pending, spec.prefilter)
    await store.record_results(skipped)
    to_send, copies = await reuse_stored_results(store, to_do, fingerprint)
    return to_send, copies, len(blocks) - len(pending)
