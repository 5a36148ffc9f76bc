"""The queue of distributed runs: Procrastinate in the run store's PostgreSQL database, and
what a submission leaves there for workers on any machine.

One database holds the queue of every run (`jobs.py`). Beside Procrastinate's own tables,
three of blockpass's live in the database's default schema:

    blockpass_submissions  run PK, connection ("vendor:model"), task (JSON), execution
                           settings (JSON), submitted_at: what a worker needs to send a
                           run's packs without the submitter's files
    blockpass_documents    (run, position) PK, document_id, path, raw: the documents as read,
                           byte for byte, so `blockpass report` writes revised copies anywhere
    blockpass_rate_limits  (account, bucket) PK, per_minute, level, in_flight, updated_at: the token
                           buckets all workers of one provider account share
                           (`account_limits.py`)
    blockpass_retrievals   run PK, full_guide, shared units; with blockpass_rule_units
                           (the guide's units, in reading order) and blockpass_block_rules
                           (each block's ranked units): a retrieve-mode run's retrieval,
                           done once by `submit` (`retrieval.py`); and
                           blockpass_context_counts (what each job's packs carried, for
                           the report: `context_counts.py`)
    blockpass_routes       run PK, tiers, route, each block's tier, the classify pass's
                           counts, the strongest tier's forecast figures, the escalated
                           blocks once escalated: a routed run's routing (`routes.py`)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import procrastinate
import psycopg
from procrastinate.schema import SchemaManager
from psycopg.types.json import Jsonb

from blockpass.blocks import Document
from blockpass.context import ContextMode, RetrievedRules
from blockpass.context_choice import ContextChoice
from blockpass.errors import UserInputError
from blockpass.execution.packwork import ExecutionSettings
from blockpass.store.postgres_schema import Connection, connect_holder, describe_location
from blockpass.task import Task
from blockpass.verdicts import VerdictFormat
from blockpass.workers.retrieval import save_retrieval

__all__ = [
    "Submission",
    "connect",
    "open_queue",
    "prepare_database",
    "read_documents",
    "read_submission",
    "save_submission",
]

# One number for every blockpass process: who creates the queue's tables, creates them once.
_SCHEMA_LOCK = int.from_bytes(hashlib.sha256(b"blockpass queue schema").digest()[:4], "big")

_TABLES = """
CREATE TABLE IF NOT EXISTS blockpass_submissions (
    run text PRIMARY KEY,
    connection text NOT NULL,
    task jsonb NOT NULL,
    execution jsonb NOT NULL,
    submitted_at double precision NOT NULL
);
ALTER TABLE blockpass_submissions ADD COLUMN IF NOT EXISTS whole_task jsonb;
ALTER TABLE blockpass_submissions ADD COLUMN IF NOT EXISTS context jsonb;
CREATE TABLE IF NOT EXISTS blockpass_documents (
    run text NOT NULL REFERENCES blockpass_submissions (run) ON DELETE CASCADE,
    position integer NOT NULL,
    document_id text NOT NULL,
    path text NOT NULL,
    raw bytea NOT NULL,
    PRIMARY KEY (run, position)
);
CREATE TABLE IF NOT EXISTS blockpass_rate_limits (
    account text NOT NULL,
    bucket text NOT NULL,
    per_minute double precision NOT NULL,
    level double precision NOT NULL,
    in_flight double precision NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account, bucket)
);
CREATE TABLE IF NOT EXISTS blockpass_retrievals (
    run text PRIMARY KEY REFERENCES blockpass_submissions (run) ON DELETE CASCADE,
    full_guide text NOT NULL,
    shared text[] NOT NULL
);
CREATE TABLE IF NOT EXISTS blockpass_rule_units (
    run text NOT NULL REFERENCES blockpass_retrievals (run) ON DELETE CASCADE,
    position integer NOT NULL,
    unit_id text NOT NULL,
    title text NOT NULL,
    text text NOT NULL,
    PRIMARY KEY (run, position)
);
CREATE TABLE IF NOT EXISTS blockpass_block_rules (
    run text NOT NULL REFERENCES blockpass_retrievals (run) ON DELETE CASCADE,
    block_id text COLLATE "C" NOT NULL,
    ranked text[] NOT NULL,
    widened boolean NOT NULL,
    unsure boolean NOT NULL,
    PRIMARY KEY (run, block_id)
);
CREATE TABLE IF NOT EXISTS blockpass_routes (
    run text PRIMARY KEY REFERENCES blockpass_submissions (run) ON DELETE CASCADE,
    tiers text[] NOT NULL,
    route text NOT NULL,
    tier_of jsonb NOT NULL,
    classify jsonb NOT NULL,
    strong jsonb NOT NULL,
    escalated jsonb
);
CREATE TABLE IF NOT EXISTS blockpass_context_counts (
    run text NOT NULL REFERENCES blockpass_retrievals (run) ON DELETE CASCADE,
    counts jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS blockpass_context_counts_run ON blockpass_context_counts (run);
"""


def open_queue(url: str) -> procrastinate.App:
    """Procrastinate on the database at ``url`` (open it with ``open_async``)."""
    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))


async def prepare_database(url: str) -> None:
    """Create Procrastinate's schema and blockpass's queue tables where they are missing.

    Several submitters and workers may start at once: one transaction under an advisory
    lock creates everything, the others find it there.
    """
    connection = await connect(url)
    async with connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        cursor = await connection.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
        found = await cursor.fetchone()
        if not (found and found[0]):
            await connection.execute(SchemaManager.get_schema())
        await connection.execute(_TABLES)


async def connect(url: str) -> Connection:
    """A connection to the database at ``url`` (autocommit: each use opens its own
    transaction); one that cannot be made is bad input, said in one line."""
    return await connect_holder(url, describe_location(url))


WHOLE_GUIDE = ContextChoice(mode=ContextMode.FULL, reason="asked for")


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """What workers need to send a run's packs: the model, the task and the pack limits.
    ``whole_task``: the whole-guide task costs are counted against, where the requests
    carry retrieved rules instead (None: ``task`` itself)."""

    run: str
    connection: str
    task: Task
    execution: ExecutionSettings
    submitted_at: float
    whole_task: Task | None = None
    # What the requests carry of the guide, and why: the report says it as `run`'s does.
    context: ContextChoice = WHOLE_GUIDE

    @property
    def report_task(self) -> Task:
        return self.whole_task or self.task


async def save_submission(
    url: str,
    submission: Submission,
    documents: Sequence[Document],
    retrieved: RetrievedRules | None = None,
) -> None:
    """The submission, its documents and (retrieve mode) its retrieval, in one transaction:
    what an earlier submission of the run left is replaced."""
    whole = submission.whole_task
    connection = await connect(url)
    async with connection, connection.transaction():
        await connection.execute(
            "INSERT INTO blockpass_submissions AS s"
            " (run, connection, task, execution, submitted_at, whole_task, context)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (run) DO UPDATE SET connection = excluded.connection,"
            " task = excluded.task, execution = excluded.execution,"
            " submitted_at = excluded.submitted_at, whole_task = excluded.whole_task,"
            " context = excluded.context",
            (
                submission.run,
                submission.connection,
                Jsonb(asdict(submission.task)),
                Jsonb(asdict(submission.execution)),
                submission.submitted_at,
                None if whole is None else Jsonb(asdict(whole)),
                Jsonb(submission.context.to_json()),
            ),
        )
        await save_retrieval(connection, submission.run, retrieved)
        await connection.execute(
            "DELETE FROM blockpass_documents WHERE run = %s", (submission.run,)
        )
        async with connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO blockpass_documents (run, position, document_id, path, raw)"
                " VALUES (%s, %s, %s, %s, %s)",
                [
                    (
                        submission.run,
                        position,
                        document.id,
                        str(document.path or document.id),
                        document.raw,
                    )
                    for position, document in enumerate(documents)
                ],
            )


async def read_submission(url: str, run: str) -> Submission:
    """The run's submission; a run nobody submitted is bad input."""
    async with await connect(url) as connection:
        try:
            cursor = await connection.execute(
                "SELECT connection, task, execution, submitted_at, whole_task, context"
                " FROM blockpass_submissions WHERE run = %s",
                (run,),
            )
        except psycopg.errors.UndefinedTable:
            row = None  # nothing was ever submitted to this database
        else:
            row = await cursor.fetchone()
    if row is None:
        raise UserInputError(f"no run {run!r} was submitted to this store (blockpass submit)")
    connection_text, task, execution, submitted_at, whole_task, context = row
    return Submission(
        run=run,
        connection=connection_text,
        task=_task(task),
        execution=ExecutionSettings(**execution),
        submitted_at=submitted_at,
        whole_task=None if whole_task is None else _task(whole_task),
        context=WHOLE_GUIDE if context is None else _context(context),
    )


async def read_documents(url: str, run: str) -> list[tuple[str, str, bytes]]:
    """The run's documents as submitted: (document id, path as read, bytes), in order."""
    async with await connect(url) as connection:
        cursor = await connection.execute(
            "SELECT document_id, path, raw FROM blockpass_documents WHERE run = %s"
            " ORDER BY position",
            (run,),
        )
        rows = await cursor.fetchall()
    return [(document_id, path, bytes(raw)) for document_id, path, raw in rows]


def _context(stored: dict[str, Any]) -> ContextChoice:
    """The submitter's choice of context as ``ContextChoice.to_json`` wrote it."""
    estimates = {
        name: None if usd is None else Decimal(usd) for name, usd in stored["estimated_usd"].items()
    }
    return ContextChoice(
        mode=ContextMode(stored["mode"]),
        reason=stored["reason"],
        full_usd=estimates["full"],
        retrieve_usd=estimates["retrieve"],
    )


def _task(stored: dict[str, Any]) -> Task:
    """The submitted task as it was, its values back in their own types (JSON has lists
    and strings), so that its prefix and fingerprint are the submitter's byte for byte."""
    return Task(
        **{
            **stored,
            "verdicts": VerdictFormat(stored["verdicts"]),
            "rule_messages": tuple(tuple(pair) for pair in stored["rule_messages"]),
        }
    )
