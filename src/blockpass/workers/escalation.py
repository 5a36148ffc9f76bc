"""A routed distributed run's escalation: `run`'s second pass, as one job per submission.

`submit --tiers` queues it beside the tiers' pack jobs. It queues itself again (waiting a
little longer each time) while any pack job of the run waits or runs; then, as
`routing/runner.py` does after its first pass, it marks the weak tiers' doubtful answers as
failed (escalated), records which and why (`routes.py`), plans what is left to do on each
tier (the escalated blocks on the strongest) and queues those packs. Packing the escalated
blocks together once the weak tiers have ended, rather than each weak pack's as it ends, is
what `run` does: the same packs, so the same requests and costs.

The escalations are recorded once the second pass is queued, and a job that finds them
recorded does nothing. A retried escalation (its worker died, or was thought dead) keeps
what an earlier attempt marked and marks the rest; packs it queued already are not queued
twice (their queueing lock), and a pack job sends only blocks without a final result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from blockpass.blocks import Outcome
from blockpass.deterministic import Findings
from blockpass.reuse import reuse_stored_results, unfinished
from blockpass.routing.runner import ESCALATED, doubtful_results
from blockpass.routing.tiers import RouteMode
from blockpass.workers.jobs import (
    ESCALATE,
    QUEUE,
    SEND_PACK,
    PackJob,
    copies_in,
    defer_task,
    findings_args,
    findings_in,
    findings_of,
)
from blockpass.workers.queue import read_documents
from blockpass.workers.routes import RunRoutes, load_routes, save_escalated
from blockpass.workers.runs import WorkerRuns

__all__ = ["EscalationJob", "escalate_run"]

# Seconds before the first look at the tiers' packs again, each wait this much longer than
# the one before, up to the longest.
FIRST_WAIT = 0.5
WAIT_FACTOR = 1.5
LONGEST_WAIT = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationJob:
    run: str
    submitted: float
    # The rule engine's findings of the blocks sent, for those sent again.
    findings: Mapping[str, Findings]
    delay: float = 0.0

    @property
    def lock(self) -> str:
        return f"{self.run}/escalation"

    async def defer(self, app: procrastinate.App) -> int:
        return await defer_task(app, ESCALATE, self.lock, self.to_args(), delay=self.delay)

    def to_args(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "submitted": self.submitted,
            "findings": findings_args(self.findings),
            "delay": self.delay,
        }

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> EscalationJob:
        return cls(
            run=args["run"],
            submitted=args["submitted"],
            findings=findings_of(args["findings"]),
            delay=args["delay"],
        )


async def escalate_run(
    runs: WorkerRuns,
    url: str,
    job: EscalationJob,
    app: procrastinate.App,
    on_event: Callable[[str], None],
) -> None:
    routes = await load_routes(url, job.run)
    if routes is None or routes.escalated is not None:
        return  # submitted again since without tiers, or this pass is queued already
    if await _packs_open(app, job.run):
        delay = min(max(job.delay * WAIT_FACTOR, FIRST_WAIT), LONGEST_WAIT)
        on_event(f"run {job.run}: escalation waits {delay:.1f} s for the tiers' packs")
        # AlreadyEnqueued is let through: this job's own row waits again (Procrastinate
        # retried it as stalled while this attempt ran); failing keeps it waiting, where
        # ending would close it with this attempt.
        await replace(job, delay=delay).defer(app)
        return
    lanes = routes.lanes
    strongest = await runs.get(job.run, job.submitted, [], lane=lanes[-1].connection)
    store = strongest.store
    results = await store.results()
    # Marked by an attempt of this job that died before it queued the pass: kept as marked.
    earlier = {
        block_id: reason.removeprefix(f"{ESCALATED}: ")
        for block_id, result in results.items()
        if result.outcome is Outcome.FAILED
        and (reason := result.reason or "").startswith(ESCALATED)
    }
    unmarked = {key: result for key, result in results.items() if key not in earlier}
    escalated, marked = doubtful_results(unmarked, set(strongest.blocks), lanes[-1].name)
    escalated |= earlier
    await store.withdraw_results(marked)
    on_event(f"run {job.run}: {len(escalated)} blocks escalated to {lanes[-1].profile.id}")
    # As `run`: a second pass when blocks were escalated or a classify pass was paid for.
    if escalated or (routes.route is RouteMode.CLASSIFY and routes.asked):
        await _queue_second_pass(runs, url, job, app, routes, escalated, on_event)
    # Recorded once the pass is queued: a job that dies before queues it when retried.
    await save_escalated(url, job.run, escalated)


async def _queue_second_pass(
    runs: WorkerRuns,
    url: str,
    job: EscalationJob,
    app: procrastinate.App,
    routes: RunRoutes,
    escalated: Mapping[str, str],
    on_event: Callable[[str], None],
) -> None:
    """Pack jobs for every block still to do, each on its tier (escalated ones on the
    strongest), planned as `run`'s second pass plans them."""
    lanes = routes.lanes
    strongest = await runs.get(job.run, job.submitted, [], lane=lanes[-1].connection)
    documents = await read_documents(url, job.run)
    order = {document_id: n for n, (document_id, _, _) in enumerate(documents)}
    blocks = sorted(
        strongest.blocks.values(), key=lambda block: (order.get(block.document_id, -1), block.index)
    )
    pending = unfinished(blocks, await strongest.store.results())
    for index, lane in enumerate(lanes):
        routed = [
            block
            for block in pending
            if lane.connection
            == (lanes[-1].connection if block.id in escalated else routes.lane_of(block.id))
        ]
        if not routed:
            continue
        run = await runs.get(job.run, job.submitted, [], lane=lane.connection)
        # Planned as a new pass plans: from the sizes and estimates the lane stored so far.
        await run.parts.resume_lane()
        run.parts.planner.know(job.findings)
        to_send, copies = await reuse_stored_results(run.store, routed, run.fingerprint)
        packs = run.parts.planner.plan(await run.parts.keep_fitting(to_send))
        on_event(f"run {job.run}: tier {index} {lane.profile.id} again, {len(packs)} packs")
        for pack in packs:
            with suppress(AlreadyEnqueued):  # queued by an earlier attempt of this job
                await PackJob(
                    run=job.run,
                    pack=pack.id,
                    blocks=tuple(block.id for block in pack.blocks),
                    copies=copies_in([pack], copies),
                    findings=findings_in([pack], job.findings),
                    submitted=job.submitted,
                    lane=lane.connection,
                    again=True,
                ).defer(app)


async def _packs_open(app: procrastinate.App, run: str) -> bool:
    """Whether a pack job of the run still waits or runs."""
    row = await app.connector.execute_query_one_async(
        "SELECT count(*) AS open FROM procrastinate_jobs WHERE queue_name = %(queue)s"
        " AND task_name = %(task)s AND args->>'run' = %(run)s AND status IN ('todo', 'doing')",
        queue=QUEUE,
        task=SEND_PACK,
        run=run,
    )
    return bool(row["open"])
