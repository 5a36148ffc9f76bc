"""The Procrastinate jobs of a distributed run: one pack, sent by whichever worker takes it;
or, in batch mode, one provider batch: a job submits it, a job polls it and queues itself
again (after a wait growing to ``poll_max``) until it has ended, then collects it; items
without a result become pack jobs.

A pack's job has a lock and a queueing lock keyed by its run and pack id: no two jobs of one
pack run at once, and submitting again does not queue a pack that is still waiting. A worker
that dies leaves its job `doing`; a live worker retries it once the dead one's heartbeat is
older than the stalled timeout (`worker.py`). A job that fails is retried later by
Procrastinate: one that finds its pack leased by a worker still alive (``PackHeld``: a slow
worker, not a dead one), or met a passing error; blocks it stored are not sent again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import procrastinate
from procrastinate import JobContext, RetryStrategy

from blockpass.blocks import Block, Edit
from blockpass.deterministic import NO_FINDINGS, Findings
from blockpass.errors import BlockpassError
from blockpass.packing import Pack
from blockpass.proposals import Proposal
from blockpass.workers.queue import connect

__all__ = [
    "ESCALATE",
    "OPEN_JOB_STATES",
    "QUEUE",
    "SEND_PACK",
    "TASKS",
    "BatchJob",
    "PackHeld",
    "PackJob",
    "PackSender",
    "copies_in",
    "defer_task",
    "findings_args",
    "findings_in",
    "findings_of",
    "job_counts",
    "lock_held",
    "open_jobs",
    "register_tasks",
]

SEND_PACK = "blockpass.send_pack"
SUBMIT_BATCH = "blockpass.submit_batch"
POLL_BATCH = "blockpass.poll_batch"
# A routed run's escalation of its weak tiers' doubtful answers (`escalation.py`).
ESCALATE = "blockpass.escalate"
TASKS = (SEND_PACK, SUBMIT_BATCH, POLL_BATCH, ESCALATE)
# Every run's packs wait in one queue (a job names its run), so a worker serves every run
# of the database and never takes a job of another application sharing it.
QUEUE = "blockpass"
# A job that fails (its pack held by a live worker, the database or the provider gone for a
# moment) is tried again, waiting 5 s more each time: about 17 minutes in all.
RETRIES = 20
RETRY_WAIT_SECONDS = 5
# Jobs that may still send something.
OPEN_JOB_STATES = ("todo", "doing")


class PackHeld(BlockpassError):
    """Another live worker holds the pack's lease."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PackJob:
    run: str
    pack: str
    blocks: tuple[str, ...]
    # Blocks elsewhere in the run with the text of one of these: they take its result.
    copies: tuple[str, ...] = ()
    # The rule engine's findings, merged into the model's results (`deterministic.merge`).
    findings: Mapping[str, Findings]
    # When the run was submitted: a worker that opened it for an earlier submission (another
    # task, other retrieved rules) prepares it again.
    submitted: float
    # A routed run's tier ("vendor:model", `routes.py`); "" for the submission's model.
    lane: str = ""
    # A pack of a routed run's second pass (`escalation.py`): its blocks' failures (the
    # escalated answers among them) are sent again, as `run`'s second pass sends them.
    again: bool = False

    @property
    def lock(self) -> str:
        return f"{self.run}/{self.pack}"

    async def defer(self, app: procrastinate.App) -> int:
        """Queue the job; ``AlreadyEnqueued`` if this pack's job is waiting already."""
        return await defer_task(app, SEND_PACK, self.lock, self.to_args())

    def to_args(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "pack": self.pack,
            "blocks": list(self.blocks),
            "copies": list(self.copies),
            "findings": findings_args(self.findings),
            "submitted": self.submitted,
            "lane": self.lane,
            "again": self.again,
        }

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> PackJob:
        return cls(
            run=args["run"],
            pack=args["pack"],
            blocks=tuple(args["blocks"]),
            copies=tuple(args["copies"]),
            findings=findings_of(args["findings"]),
            submitted=args["submitted"],
            lane=args.get("lane", ""),
            again=args.get("again", False),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchJob:
    """A provider batch of a run's packs: submitted by one job (``batch`` None), then polled
    by a job that defers itself until the batch has ended, and collected by the last one."""

    run: str
    packs: tuple[tuple[str, ...], ...]
    copies: tuple[str, ...] = ()
    findings: Mapping[str, Findings]
    poll_initial: float
    poll_max: float
    submitted: float
    # The run's first batch, of one pack, whose requests write the prompt cache the others
    # read (`BatchSettings.prime`).
    priming: bool = False
    # The lock of the priming batch's jobs: this batch is submitted once they have ended.
    after: str = ""
    # The stored batch, once submitted; the wait before the next poll.
    batch: int | None = None
    delay: float = 0.0

    @property
    def lock(self) -> str:
        digest = hashlib.sha256("\n".join(map(" ".join, self.packs)).encode()).hexdigest()
        return f"{self.run}/batch-{digest[:20]}"

    async def defer(self, app: procrastinate.App) -> int:
        """Queue the submission (after ``delay`` when it waits for the priming batch), or
        (``batch`` set) the next poll after ``delay``."""
        task = SUBMIT_BATCH if self.batch is None else POLL_BATCH
        return await defer_task(app, task, self.lock, self.to_args(), delay=self.delay)

    def to_args(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "packs": [list(pack) for pack in self.packs],
            "copies": list(self.copies),
            "findings": findings_args(self.findings),
            "poll_initial": self.poll_initial,
            "poll_max": self.poll_max,
            "batch": self.batch,
            "delay": self.delay,
            "submitted": self.submitted,
            "priming": self.priming,
            "after": self.after,
        }

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> BatchJob:
        return cls(
            run=args["run"],
            packs=tuple(tuple(pack) for pack in args["packs"]),
            copies=tuple(args["copies"]),
            findings=findings_of(args["findings"]),
            poll_initial=args["poll_initial"],
            poll_max=args["poll_max"],
            batch=args["batch"],
            delay=args["delay"],
            submitted=args["submitted"],
            priming=args["priming"],
            after=args["after"],
        )


async def defer_task(
    app: procrastinate.App, task: str, lock: str, args: dict[str, Any], *, delay: float = 0.0
) -> int:
    deferrer = app.tasks[task].configure(
        lock=lock,
        queueing_lock=lock,
        queue=QUEUE,
        schedule_in={"milliseconds": round(delay * 1000)},
    )
    return await deferrer.defer_async(**args)


def copies_in(packs: Sequence[Pack], copies: Sequence[Block]) -> tuple[str, ...]:
    """The ids of ``copies`` whose text a block of ``packs`` has: they take its result."""
    texts = {block.content_hash for pack in packs for block in pack.blocks}
    return tuple(copy.id for copy in copies if copy.content_hash in texts)


def findings_in(packs: Sequence[Pack], findings: Mapping[str, Findings]) -> dict[str, Findings]:
    """The rule engine's findings of the blocks of ``packs`` (those that have any)."""
    return {
        block.id: found
        for pack in packs
        for block in pack.blocks
        if (found := findings.get(block.id, NO_FINDINGS)) != NO_FINDINGS
    }


def findings_args(findings: Mapping[str, Findings]) -> dict[str, Any]:
    return {
        block_id: {
            "edits": [_edit_args(edit) for edit in found.edits],
            "notes": list(found.notes),
            "proposals": [[*_edit_args(each.edit), each.note] for each in found.proposals],
        }
        for block_id, found in findings.items()
    }


def _edit_args(edit: Edit) -> list[str]:
    return [edit.find, edit.replace, edit.rule, edit.source]


def findings_of(args: Mapping[str, Any]) -> dict[str, Findings]:
    return {
        block_id: Findings(
            edits=tuple(
                Edit(find=find, replace=replace, rule=rule, source=source)
                for find, replace, rule, source in found["edits"]
            ),
            notes=tuple(found["notes"]),
            proposals=tuple(
                Proposal(Edit(find=find, replace=replace, rule=rule, source=source), note)
                for find, replace, rule, source, note in found.get("proposals", [])
            ),
        )
        for block_id, found in args.items()
    }


class PackSender(Protocol):
    async def send(self, job: PackJob, app: procrastinate.App) -> None: ...

    async def submit_batch(self, job: BatchJob, app: procrastinate.App) -> None: ...

    async def poll_batch(self, job: BatchJob, app: procrastinate.App) -> None: ...

    async def escalate(self, args: Mapping[str, Any], app: procrastinate.App) -> None: ...


SENDER = "pack_sender"


async def _send_pack(context: JobContext, /, **args: Any) -> None:
    sender: PackSender = context.additional_context[SENDER]
    await sender.send(PackJob.from_args(args), context.app)


async def _submit_batch(context: JobContext, /, **args: Any) -> None:
    sender: PackSender = context.additional_context[SENDER]
    await sender.submit_batch(BatchJob.from_args(args), context.app)


async def _poll_batch(context: JobContext, /, **args: Any) -> None:
    sender: PackSender = context.additional_context[SENDER]
    await sender.poll_batch(BatchJob.from_args(args), context.app)


async def _escalate(context: JobContext, /, **args: Any) -> None:
    sender: PackSender = context.additional_context[SENDER]
    await sender.escalate(args, context.app)


def register_tasks(app: procrastinate.App) -> procrastinate.App:
    """``app`` with blockpass's tasks; a worker passes its `PackSender` as the additional
    context ``SENDER``."""
    retry = RetryStrategy(
        max_attempts=RETRIES, wait=RETRY_WAIT_SECONDS, linear_wait=RETRY_WAIT_SECONDS
    )
    for name, function in (
        (SEND_PACK, _send_pack),
        (SUBMIT_BATCH, _submit_batch),
        (POLL_BATCH, _poll_batch),
        (ESCALATE, _escalate),
    ):
        app.task(name=name, queue=QUEUE, pass_context=True, retry=retry)(function)
    return app


async def job_counts(url: str, run: str) -> dict[str, int]:
    """The run's pack jobs by Procrastinate's status (todo, doing, succeeded, failed, ...)."""
    async with await connect(url) as connection:
        cursor = await connection.execute(
            "SELECT status::text, count(*) FROM procrastinate_jobs"
            " WHERE queue_name = %s AND args->>'run' = %s GROUP BY status",
            (QUEUE, run),
        )
        rows = await cursor.fetchall()
    return {status: count for status, count in rows}


async def lock_held(app: procrastinate.App, lock: str) -> bool:
    """Whether a job with this lock is still waiting or running."""
    row = await app.connector.execute_query_one_async(
        "SELECT count(*) AS open FROM procrastinate_jobs WHERE queue_name = %(queue)s"
        " AND lock = %(lock)s AND status IN ('todo', 'doing')",
        queue=QUEUE,
        lock=lock,
    )
    return bool(row["open"])


async def open_jobs(url: str, run: str) -> int:
    counts = await job_counts(url, run)
    return sum(counts.get(state, 0) for state in OPEN_JOB_STATES)
