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
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import procrastinate
import psycopg
from procrastinate.schema import SchemaManager
from psycopg.types.json import Jsonb

from blockpass.blocks import Document
from blockpass.errors import UserInputError
from blockpass.execution.packwork import ExecutionSettings
from blockpass.store.postgres_schema import Connection, connect_holder, describe_location
from blockpass.task import Task
from blockpass.verdicts import VerdictFormat

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Submission:
    """What workers need to send a run's packs: the model, the task and the pack limits."""

    run: str
    connection: str
    task: Task
    execution: ExecutionSettings
    submitted_at: float


async def save_submission(url: str, submission: Submission, documents: Sequence[Document]) -> None:
    connection = await connect(url)
    async with connection, connection.transaction():
        await connection.execute(
            "INSERT INTO blockpass_submissions AS s"
            " (run, connection, task, execution, submitted_at) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (run) DO UPDATE SET connection = excluded.connection,"
            " task = excluded.task, execution = excluded.execution,"
            " submitted_at = excluded.submitted_at",
            (
                submission.run,
                submission.connection,
                Jsonb(asdict(submission.task)),
                Jsonb(asdict(submission.execution)),
                submission.submitted_at,
            ),
        )
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
                "SELECT connection, task, execution, submitted_at FROM blockpass_submissions"
                " WHERE run = %s",
                (run,),
            )
        except psycopg.errors.UndefinedTable:
            row = None  # nothing was ever submitted to this database
        else:
            row = await cursor.fetchone()
    if row is None:
        raise UserInputError(f"no run {run!r} was submitted to this store (blockpass submit)")
    connection_text, task, execution, submitted_at = row
    return Submission(
        run=run,
        connection=connection_text,
        task=_task(task),
        execution=ExecutionSettings(**execution),
        submitted_at=submitted_at,
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
