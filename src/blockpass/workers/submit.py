"""`blockpass submit`: read a job's documents, store its blocks, plan its packs and queue one
Procrastinate job per pack (or, ``--mode batch``, one per provider batch), for workers on
any machine (`worker.py`) to send.

Everything before sending is what a single-process run does (`pipeline.run_job`): the same
pre-filter, choice of context, retrieval, reuse of stored results, rule engine and pack
planning, on the same store, so the workers' results are the ones `blockpass run` would have
written. With ``--mcp`` or in agentic mode the tools are listed here and kept for the workers
(`tool_runs.py`), which send each pack through a tool loop as `run` does. In retrieve mode
the retrieval is kept for the workers (`retrieval.py`): they read each block's units and lay
out its pack's context as this plan did. A pack's job carries what
is particular to its blocks: their ids, the rule engine's findings for them, and the blocks
elsewhere in the run with the same text, which take its result when it is stored.

Submitting the same run again once its jobs have ended queues what is still to do (failures,
blocks of changed text): blocks with a final result are not planned again. While jobs of the
run wait or run, it is refused: packs planned anew could hold blocks a waiting job holds, and
two workers would send them at once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import anyio
import procrastinate

from blockpass.blocks import Block
from blockpass.context import ContextMode
from blockpass.context_choice import retrieved_rules
from blockpass.deterministic import NO_FINDINGS, Findings, engine_result
from blockpass.errors import UserInputError
from blockpass.estimate import BlockFigures
from blockpass.execution.lane_runs import Mode
from blockpass.execution.packwork import ExecutionParts
from blockpass.job_context import choose_run_context, open_job_guide
from blockpass.lanes import lane_name, run_fingerprint
from blockpass.mcp_bridge.loop import require_tools
from blockpass.packing import Pack
from blockpass.pipeline import JobSpec, read_job_inputs, refuse_tools_in_batches
from blockpass.prefilter import prefilter
from blockpass.prices import PriceTable
from blockpass.providers import Connection
from blockpass.providers.base import CacheTtl
from blockpass.reuse import reuse_stored_results, unfinished
from blockpass.store import RunHold, open_store_at
from blockpass.workers.escalation import EscalationJob
from blockpass.workers.jobs import (
    BatchJob,
    PackJob,
    copies_in,
    findings_in,
    open_jobs,
    register_tasks,
)
from blockpass.workers.queue import (
    Submission,
    open_queue,
    prepare_database,
    save_submission,
)
from blockpass.workers.routes import RunRoutes, TierChoice, route_submission, save_routes
from blockpass.workers.tool_runs import plan_tools

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


def refuse_unsupported(spec: JobSpec, tiers: TierChoice | None) -> None:
    """What workers do not run yet, said before anything is read."""
    if spec.mode is Mode.AUTO:
        raise UserInputError("submit sends in realtime or in provider batches: --mode one of them")
    refuse_tools_in_batches(spec)
    if tiers and (spec.mode is Mode.BATCH or spec.context is not ContextMode.FULL):
        raise UserInputError(
            "submit routes tiers in realtime with the whole guide: leave --mode batch and"
            " --context retrieve|auto out, or --tiers"
        )
    if tiers and spec.mcp_servers:
        raise UserInputError("submit runs tool loops on one model: leave --tiers or --mcp out")


async def submit_job(
    spec: JobSpec,
    connection: Connection,
    prices: PriceTable,
    *,
    url: str,
    run: str,
    tiers: TierChoice | None = None,
) -> Submitted:
    """Store the job's blocks in run ``run`` of the database at ``url`` and queue its packs.
    ``prices``: what ``--context auto`` compares the two modes at, and the classify pass
    weighs; ``tiers``: route the blocks over these models (`routes.py`) instead."""
    refuse_unsupported(spec, tiers)
    if spec.mcp_servers or spec.context is ContextMode.AGENTIC:
        require_tools(connection.profile)
    if spec.mode is Mode.BATCH and not connection.has_batch_api:
        raise UserInputError(f"{connection.profile.id} has no batch API: use --mode realtime")
    inputs, blocks, task, check = read_job_inputs(spec)
    # Opened before the database is touched, so that a bad guide or --core leaves no run.
    guide = (
        None
        if spec.context is ContextMode.FULL
        else await anyio.to_thread.run_sync(open_job_guide, spec, task)
    )
    # Listed before the database is touched: a server that cannot be reached leaves no run.
    tools = await plan_tools(
        spec.mcp_servers,
        spec.tool_limits,
        guide if spec.context is ContextMode.AGENTIC else None,
    )
    lanes = tiers.connections if tiers else (connection,)
    profile = lanes[0].profile
    await prepare_database(url)
    waiting = await open_jobs(url, run)
    if waiting:
        raise UserInputError(
            f"run {run} has {waiting:,} pack jobs waiting or running: submit it again once"
            " they have ended (blockpass status), or under another --run"
        )
    async with open_store_at(url, run=run, hold=RunHold.SHARED) as store:
        routing = (
            await route_submission(tiers, spec, (inputs, blocks, task, check), store, prices)
            if tiers
            else None
        )
        pending = unfinished(blocks, await store.results())
        to_do, skipped = prefilter(pending, spec.prefilter)
        choice, retrieved = await choose_run_context(
            spec, task, guide, to_do, profile, prices, store
        )
        whole_task, task = task, choice.task(task)
        names = [lane_name(lane.vendor, lane.profile) for lane in lanes]
        fingerprints = {
            name: task.fingerprint(lane.profile.results_key)
            for name, lane in zip(names, lanes, strict=True)
        }
        settings = {
            "provider": connection.vendor,
            "model": profile.id,
            "guide": str(spec.guide),
            "context": choice.mode.value,
        }
        if tiers:
            settings["lanes"] = " ".join(names)
        await store.open_run(
            fingerprint=run_fingerprint(fingerprints), settings=settings, lanes=fingerprints
        )
        await store.put_blocks(blocks)
        await store.record_results(skipped)
        classified = routing[1] if routing else None
        for call in classified.calls if classified else ():
            await store.record_call(call, [])
        tier_of = routing[0].tier_of if routing else {}
        to_send: list[list[Block]] = []
        copies: list[list[Block]] = []
        for index, name in enumerate(names):
            routed = [
                block for block in to_do if tier_of.get(block.id, len(names) - 1) == index
            ] if tiers else to_do  # fmt: skip
            lane_sends, lane_copies = await reuse_stored_results(store, routed, fingerprints[name])
            to_send.append(lane_sends)
            copies.append(lane_copies)
        sending = {block.id for lane_sends in to_send for block in lane_sends}
        findings = check.findings(inputs.documents, sending) if check else {}
        if not task.needs_model:
            await store.record_results(
                [
                    engine_result(block, findings.get(block.id, NO_FINDINGS))
                    for lane_sends in to_send
                    for block in lane_sends
                ]
            )
            to_send = [[] for _ in names]
        sent = [block for lane_sends in to_send for block in lane_sends]
        if choice.guide is not None and choice.mode is ContextMode.RETRIEVE and retrieved is None:
            retrieved = await anyio.to_thread.run_sync(
                retrieved_rules, choice.guide, sent, spec.retrieval
            )
        packs: list[list[Pack]] = []
        for lane, lane_sends in zip(lanes, to_send, strict=True):
            parts = ExecutionParts.build(
                profile=lane.profile,
                provider_name=lane.vendor,
                task=task,
                store=store,
                settings=spec.execution,
                retrieved=retrieved,
                findings=findings,
            )
            await parts.resume_lane()
            fitting = await parts.keep_fitting(lane_sends)
            if spec.mode is Mode.BATCH:
                # As BatchExecutor plans: a batch's cache entries live an hour.
                bound = parts.planner.batch_pack_bound(spec.batch.max_blocks)
                packs.append(parts.planner.plan(fitting, max_blocks=bound, ttl=CacheTtl.ONE_HOUR))
            else:
                packs.append(parts.planner.plan(fitting))
    submitted_at = time.time()
    await save_submission(
        url,
        Submission(
            run=run,
            connection=f"{lanes[0].vendor}:{profile.id}",
            task=task,
            execution=spec.execution,
            submitted_at=submitted_at,
            whole_task=None if task is whole_task else whole_task,
            context=replace(choice, guide=None),
        ),
        inputs.documents,
        # Workers lay out each pack's context as this plan did: with its shared units.
        None if retrieved is None else replace(retrieved, shared=parts.planner.shared_units),
        tools,
    )
    await save_routes(
        url,
        run,
        RunRoutes.decided(
            tiers, routing, BlockFigures.of(sent, findings, whole_task, lanes[-1].profile), sent
        ) if tiers and routing else None,
    )  # fmt: skip
    app = register_tasks(open_queue(url))
    async with app.open_async():
        if spec.mode is Mode.BATCH:
            jobs = await _queue_batches(
                app, spec, run, submitted_at, packs[0], parts, findings, copies[0]
            )
        else:
            jobs = 0
            for lane, lane_packs, lane_copies in zip(lanes, packs, copies, strict=True):
                # Workers take jobs in the order they were queued: the largest answers
                # first, as a single-process run sends them, so its last calls are short.
                by_answer = sorted(lane_packs, key=lambda pack: pack.estimated_output, reverse=True)
                for pack in by_answer:
                    await PackJob(
                        run=run,
                        pack=pack.id,
                        blocks=tuple(block.id for block in pack.blocks),
                        copies=copies_in([pack], lane_copies),
                        findings=findings_in([pack], findings),
                        submitted=submitted_at,
                        lane=f"{lane.vendor}:{lane.profile.id}" if tiers else "",
                    ).defer(app)
                    jobs += 1
            if tiers:
                # Every sent block's findings: escalated blocks and failures go again.
                every = [pack for lane_packs in packs for pack in lane_packs]
                await EscalationJob(
                    run=run, submitted=submitted_at, findings=findings_in(every, findings)
                ).defer(app)
                jobs += 1
    return Submitted(
        blocks=len(blocks),
        already_done=len(blocks) - len(pending),
        to_send=len(sent),
        packs=sum(len(lane_packs) for lane_packs in packs),
        jobs=jobs,
        context=choice.summary(),
    )


async def _queue_batches(
    app: procrastinate.App,
    spec: JobSpec,
    run: str,
    submitted_at: float,
    packs: Sequence[Pack],
    parts: ExecutionParts,
    findings: Mapping[str, Findings],
    copies: Sequence[Block],
) -> int:
    """The batch jobs of a run's packs; how many."""
    size = spec.batch.max_requests or BATCH_PACKS
    # As a single-process run does: the pack that writes the most of what the others
    # read (the prefix, or the prefix and the shared units) goes alone first; the other
    # batches are submitted once it has ended, so they read its cache entries.
    groups = [list(packs)]
    priming = False
    if spec.batch.prime and len(packs) > 1:
        writer = max(packs, key=parts.layout.cached_tokens)
        priming = parts.layout.cached_tokens(writer) > 0
        if priming:
            groups = [[writer], [pack for pack in packs if pack is not writer]]
    batches = [
        group[start : start + size] for group in groups for start in range(0, len(group), size)
    ]
    primer = ""
    for number, group in enumerate(batches):
        job = BatchJob(
            run=run,
            packs=tuple(tuple(block.id for block in pack.blocks) for pack in group),
            copies=copies_in(group, copies),
            findings=findings_in(group, findings),
            poll_initial=spec.batch.poll_initial,
            poll_max=spec.batch.poll_max,
            submitted=submitted_at,
            priming=priming and number == 0,
            after=primer,
        )
        await job.defer(app)
        if job.priming:
            primer = job.lock
    return len(batches)
