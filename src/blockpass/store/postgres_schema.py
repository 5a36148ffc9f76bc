"""The PostgreSQL store's connections, its tables (one schema per run), and the run's hold.

The layout is `base.py`'s, in PostgreSQL types: times are `double precision` Unix seconds,
flags `boolean`, ids identity columns (a sequence never hands a value out twice). Ids and
document names are `COLLATE "C"`, so they sort by code point as in SQLite, whatever the
database's locale.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import TupleRow

from blockpass.errors import UserInputError

__all__ = [
    "CONNECT_SECONDS",
    "SCHEMA_VERSION",
    "Connection",
    "connect_holder",
    "create_tables",
    "describe_location",
    "first_line",
    "hold_run",
    "release_run",
    "schema_name",
    "search_path_setter",
]

Connection = AsyncConnection[TupleRow]

SCHEMA_VERSION = 1
CONNECT_SECONDS = 10
SCHEMA_PREFIX = "blockpass_"
# Lowercase so that the schema is named in psql without quotes as often as possible, and
# short enough for PostgreSQL's 63-byte identifiers with the prefix.
_RUN_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
# One key for every blockpass schema creation in a database: two stores opening new runs at
# once take turns rather than racing on CREATE SCHEMA.
_CREATION_LOCK = 0x626C6F636B70  # "blockp"

_TABLES = (
    "CREATE TABLE store_version (version INTEGER NOT NULL)",
    """CREATE TABLE run (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        fingerprint TEXT NOT NULL, settings TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, opened_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE blocks (
        id TEXT COLLATE "C" PRIMARY KEY, document_id TEXT COLLATE "C" NOT NULL,
        block_index INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
        content_hash TEXT COLLATE "C" NOT NULL,
        span_start INTEGER, span_end INTEGER, span_line INTEGER, span_column INTEGER,
        CHECK ((span_start IS NULL) = (span_end IS NULL)
           AND (span_start IS NULL) = (span_line IS NULL)
           AND (span_start IS NULL) = (span_column IS NULL)))""",
    "CREATE INDEX blocks_by_position ON blocks (document_id, block_index)",
    """CREATE TABLE calls (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        pack_id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        batch BOOLEAN NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION NOT NULL,
        uncached_input BIGINT NOT NULL, cache_write_5m BIGINT NOT NULL,
        cache_write_1h BIGINT NOT NULL, cache_read BIGINT NOT NULL, output BIGINT NOT NULL)""",
    """CREATE TABLE call_blocks (
        call_id BIGINT NOT NULL REFERENCES calls (id), position INTEGER NOT NULL,
        block_id TEXT COLLATE "C" NOT NULL REFERENCES blocks (id),
        PRIMARY KEY (call_id, position))""",
    """CREATE TABLE call_starts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        pack_id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        block_ids TEXT NOT NULL, attempt INTEGER NOT NULL,
        input_tokens BIGINT NOT NULL, max_output BIGINT NOT NULL, cache_ttl TEXT NOT NULL,
        started_at DOUBLE PRECISION NOT NULL, call_id BIGINT REFERENCES calls (id))""",
    """CREATE TABLE results (
        block_id TEXT COLLATE "C" PRIMARY KEY REFERENCES blocks (id),
        content_hash TEXT COLLATE "C" NOT NULL, fingerprint TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('result', 'skipped', 'failed')),
        verdict TEXT CHECK (verdict IN ('ok', 'edit', 'flag')),
        edits TEXT NOT NULL, notes TEXT NOT NULL, rejected_edits TEXT NOT NULL,
        reason TEXT NOT NULL, call_id BIGINT REFERENCES calls (id), lane TEXT NOT NULL,
        recorded_at DOUBLE PRECISION NOT NULL)""",
    """CREATE INDEX results_for_reuse ON results (content_hash, fingerprint)
        WHERE outcome = 'result'""",
    """CREATE TABLE batches (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        label TEXT NOT NULL UNIQUE, provider TEXT NOT NULL, remote_id TEXT UNIQUE,
        state TEXT NOT NULL, remote_status TEXT NOT NULL, priming BOOLEAN NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, submitted_at DOUBLE PRECISION,
        ended_at DOUBLE PRECISION, lane TEXT NOT NULL)""",
    """CREATE TABLE batch_items (
        batch_id BIGINT NOT NULL REFERENCES batches (id),
        custom_id TEXT NOT NULL, position INTEGER NOT NULL, block_ids TEXT NOT NULL,
        collected BOOLEAN NOT NULL, PRIMARY KEY (batch_id, custom_id))""",
    """CREATE TABLE webhook_deliveries (
        webhook_id TEXT PRIMARY KEY, received_at DOUBLE PRECISION NOT NULL)""",
    # BY DEFAULT, not ALWAYS: a lease taken over gets a new id from the same sequence.
    """CREATE TABLE leases (
        id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        kind TEXT NOT NULL, key TEXT NOT NULL, worker TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL, UNIQUE (kind, key))""",
    """CREATE TABLE lane_pack_sizes (
        lane TEXT NOT NULL, block_id TEXT COLLATE "C" NOT NULL REFERENCES blocks (id),
        max_blocks INTEGER NOT NULL CHECK (max_blocks >= 1), PRIMARY KEY (lane, block_id))""",
    """CREATE TABLE lane_output_estimates (
        lane TEXT NOT NULL, kind TEXT NOT NULL, tokens DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (lane, kind))""",
)


def schema_name(run: str) -> str:
    """The schema that holds run `run`; a name outside the allowed form is a user error."""
    if not _RUN_NAME.fullmatch(run):
        raise UserInputError(
            f"{run!r} is not a run name: use 1 to 50 lowercase letters, digits, '-' or '_',"
            " starting with a letter or digit"
        )
    return SCHEMA_PREFIX + run


async def create_tables(connection: Connection, schema: str) -> None:
    """Create `schema` and its tables if it has none; refuse one a newer blockpass wrote."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_CREATION_LOCK,))
        await connection.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
        )
        await connection.execute(
            sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema))
        )
        exists = await connection.execute("SELECT to_regclass('store_version') IS NOT NULL")
        found = await exists.fetchone()
        if found is not None and found[0]:
            versions = await connection.execute("SELECT max(version) FROM store_version")
            version = (await versions.fetchone() or (0,))[0] or 0
            if version > SCHEMA_VERSION:
                raise UserInputError(
                    f"the run store schema {schema} was written by a newer blockpass (store"
                    f" version {version}); upgrade blockpass or use another run name"
                )
            return
        for statement in _TABLES:
            await connection.execute(statement)
        await connection.execute("INSERT INTO store_version VALUES (%s)", (SCHEMA_VERSION,))


async def hold_run(connection: Connection, schema: str, *, shared: bool) -> bool:
    """Take the run's session lock on `connection`, shared or exclusive; False if taken.

    A session advisory lock lasts as long as the connection: PostgreSQL drops it when the
    holder closes it or dies, so a killed run never leaves a stale hold behind.
    """
    function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    taken = await connection.execute(
        sql.SQL("SELECT {}(hashtextextended(%s, 0))").format(sql.Identifier(function)),
        (schema,),
    )
    row = await taken.fetchone()
    return bool(row and row[0])


async def release_run(connection: Connection) -> None:
    """Give the run up, then close the holding connection.

    Unlocked explicitly first: a backend drops its locks only some time after its client
    has closed the connection, and the next run, started at once, must find the run free.
    """
    try:
        await connection.execute("SELECT pg_advisory_unlock_all()")
    except psycopg.OperationalError:
        pass  # the connection is gone, and its locks with it
    finally:
        await connection.close()


async def connect_holder(dsn: str, where: str) -> Connection:
    try:
        return await AsyncConnection.connect(dsn, autocommit=True, connect_timeout=CONNECT_SECONDS)
    except psycopg.Error as exc:
        raise UserInputError(f"cannot reach the run store ({where}): {first_line(exc)}") from exc


def describe_location(dsn: str) -> str:
    """Where `dsn` points, for messages: never its password."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise UserInputError(f"not a PostgreSQL connection string: {first_line(exc)}") from exc
    host = parts.get("host") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{host}{port}/{parts.get('dbname') or ''}"


def first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def search_path_setter(schema: str) -> Callable[[Connection], Awaitable[None]]:
    async def configure(connection: Connection) -> None:
        await connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        await connection.commit()

    return configure
