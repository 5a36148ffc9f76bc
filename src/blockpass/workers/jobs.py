"""The Procrastinate job of a distributed run: one pack, sent by whichever worker takes it.

A pack's job has a lock and a queueing lock keyed by its run and pack id: no two jobs of one
pack run at once, and submitting again does not queue a pack that is still waiting. A worker
that dies leaves its job `doing`; a live worker retries it once the dead one's heartbeat is
older than the stalled timeout (`worker.py`). A job that fails is retried later by
Procrastinate: one that finds its pack leased by a worker still alive (``PackHeld``: a slow
worker, not a dead one), or met a passing error; blocks it stored are not sent again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import procrastinate
from procrastinate import JobContext, RetryStrategy

from blockpass.blocks import Edit
from blockpass.deterministic import Findings
from blockpass.errors import BlockpassError
from blockpass.workers.queue import connect

__all__ = [
    "OPEN_JOB_STATES",
    "QUEUE",
    "SEND_PACK",
    "PackHeld",
    "PackJob",
    "PackSender",
    "job_counts",
    "open_jobs",
    "register_tasks",
]

SEND_PACK = "blockpass.send_pack"
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

    @property
    def lock(self) -> str:
        return f"{self.run}/{self.pack}"

    async def defer(self, app: procrastinate.App) -> int:
        """Queue the job; ``AlreadyEnqueued`` if this pack's job is waiting already."""
        task = app.tasks[SEND_PACK]
        deferrer = task.configure(lock=self.lock, queueing_lock=self.lock, queue=QUEUE)
        return await deferrer.defer_async(**self.to_args())

    def to_args(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "pack": self.pack,
            "blocks": list(self.blocks),
            "copies": list(self.copies),
            "findings": {
                block_id: {
                    "edits": [
                        [edit.find, edit.replace, edit.rule, edit.source] for edit in found.edits
                    ],
                    "notes": list(found.notes),
                }
                for block_id, found in self.findings.items()
            },
        }

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> PackJob:
        return cls(
            run=args["run"],
            pack=args["pack"],
            blocks=tuple(args["blocks"]),
            copies=tuple(args.get("copies", ())),
            findings={
                block_id: Findings(
                    edits=tuple(
                        Edit(find=find, replace=replace, rule=rule, source=source)
                        for find, replace, rule, source in found["edits"]
                    ),
                    notes=tuple(found["notes"]),
                )
                for block_id, found in args.get("findings", {}).items()
            },
        )


class PackSender(Protocol):
    async def send(self, job: PackJob) -> None: ...


SENDER = "pack_sender"


async def _send_pack(context: JobContext, /, **args: Any) -> None:
    sender: PackSender = context.additional_context[SENDER]
    await sender.send(PackJob.from_args(args))


def register_tasks(app: procrastinate.App) -> procrastinate.App:
    """``app`` with blockpass's task; a worker passes its `PackSender` as the additional
    context ``SENDER``."""
    app.task(
        name=SEND_PACK,
        queue=QUEUE,
        pass_context=True,
        retry=RetryStrategy(
            max_attempts=RETRIES, wait=RETRY_WAIT_SECONDS, linear_wait=RETRY_WAIT_SECONDS
        ),
    )(_send_pack)
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


async def open_jobs(url: str, run: str) -> int:
    counts = await job_counts(url, run)
    return sum(counts.get(state, 0) for state in OPEN_JOB_STATES)
