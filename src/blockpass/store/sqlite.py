"""The embedded run store: one SQLite file, `run.sqlite`, per run directory.

SQLite calls block, so every operation runs in a worker thread on the one connection, one
at a time under a lock. `anyio.to_thread.run_sync` is not abandoned on cancellation, so a
Ctrl-C never leaves a transaction half-done while the lock is free. The table layout and
the invariants are described in `base.py`.

A store opened for a run (`open_run_store`) holds the run directory's lock until it is
closed; one opened with `open_sqlite_store` locks nothing, so a report or the webhook
receiver can read a run another process is running.
"""

from __future__ import annotations

import fcntl
import json
import logging
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import IO, Self, TypeVar

import anyio.to_thread

from blockpass.blocks import Block, BlockResult
from blockpass.errors import UserInputError
from blockpass.files import run_directory_errors
from blockpass.store import sqlite_workers
from blockpass.store.base import (
    BatchItemRecord,
    BatchState,
    CallRecord,
    CallStart,
    LaneFingerprints,
    Lease,
    LeaseKind,
    RunStore,
    StoredBatch,
    require_failures,
)
from blockpass.store.table_rows import (
    BATCH_COLUMNS,
    BLOCK_COLUMNS,
    CALL_COLUMNS,
    CALL_FIELDS,
    FINAL_BATCH_STATES,
    RESULT_COLUMNS,
    START_FIELDS,
    USAGE_FIELDS,
    batch_from_row,
    block_from_row,
    block_row,
    call_from_row,
    call_row,
    replace_result_sql,
    result_from_row,
    result_row,
    start_from_row,
    start_row,
    upsert_block_sql,
    upsert_result_sql,
)

__all__ = [
    "RUN_FILE_NAME",
    "SCHEMA_VERSION",
    "SqliteRunStore",
    "open_run_store",
    "open_sqlite_store",
]

RUN_FILE_NAME = "run.sqlite"
SCHEMA_VERSION = 5

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_SCHEMA = (
    """CREATE TABLE run (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        fingerprint TEXT NOT NULL, settings TEXT NOT NULL,
        created_at REAL NOT NULL, opened_at REAL NOT NULL)""",
    """CREATE TABLE blocks (
        id TEXT PRIMARY KEY, document_id TEXT NOT NULL, block_index INTEGER NOT NULL,
        kind TEXT NOT NULL, text TEXT NOT NULL, content_hash TEXT NOT NULL,
        span_start INTEGER, span_end INTEGER, span_line INTEGER, span_column INTEGER,
        CHECK ((span_start IS NULL) = (span_end IS NULL)
           AND (span_start IS NULL) = (span_line IS NULL)
           AND (span_start IS NULL) = (span_column IS NULL)))""",
    "CREATE INDEX blocks_by_position ON blocks (document_id, block_index)",
    # AUTOINCREMENT: a call id is never handed out twice, even if rows were ever removed.
    """CREATE TABLE calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pack_id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        batch INTEGER NOT NULL CHECK (batch IN (0, 1)),
        status TEXT NOT NULL, error TEXT NOT NULL, attempt INTEGER NOT NULL,
        started_at REAL NOT NULL, finished_at REAL NOT NULL,
        uncached_input INTEGER NOT NULL, cache_write_5m INTEGER NOT NULL,
        cache_write_1h INTEGER NOT NULL, cache_read INTEGER NOT NULL, output INTEGER NOT NULL)""",
    """CREATE TABLE call_blocks (
        call_id INTEGER NOT NULL REFERENCES calls (id),
        position INTEGER NOT NULL,
        block_id TEXT NOT NULL REFERENCES blocks (id),
        PRIMARY KEY (call_id, position))""",
    """CREATE TABLE results (
        block_id TEXT PRIMARY KEY REFERENCES blocks (id),
        content_hash TEXT NOT NULL, fingerprint TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('result', 'skipped', 'failed')),
        verdict TEXT CHECK (verdict IN ('ok', 'edit', 'flag')),
        edits TEXT NOT NULL, notes TEXT NOT NULL, rejected_edits TEXT NOT NULL,
        reason TEXT NOT NULL, call_id INTEGER REFERENCES calls (id),
        recorded_at REAL NOT NULL)""",
    """CREATE INDEX results_for_reuse ON results (content_hash, fingerprint)
        WHERE outcome = 'result'""",
)
# Version 2: batches. A version-1 file gains these tables when it is opened.
_BATCH_SCHEMA = (
    """CREATE TABLE batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        label TEXT NOT NULL UNIQUE, provider TEXT NOT NULL, remote_id TEXT UNIQUE,
        state TEXT NOT NULL, remote_status TEXT NOT NULL,
        priming INTEGER NOT NULL CHECK (priming IN (0, 1)),
        created_at REAL NOT NULL, submitted_at REAL, ended_at REAL)""",
    """CREATE TABLE batch_items (
        batch_id INTEGER NOT NULL REFERENCES batches (id),
        custom_id TEXT NOT NULL, position INTEGER NOT NULL, block_ids TEXT NOT NULL,
        collected INTEGER NOT NULL CHECK (collected IN (0, 1)),
        PRIMARY KEY (batch_id, custom_id))""",
    """CREATE TABLE webhook_deliveries (
        webhook_id TEXT PRIMARY KEY, received_at REAL NOT NULL)""",
)
# Version 3: calls stored as started before they are sent.
_START_SCHEMA = (
    """CREATE TABLE call_starts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pack_id TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
        block_ids TEXT NOT NULL, attempt INTEGER NOT NULL,
        input_tokens INTEGER NOT NULL, max_output INTEGER NOT NULL, cache_ttl TEXT NOT NULL,
        started_at REAL NOT NULL, call_id INTEGER REFERENCES calls (id))""",
)
# Version 5: lanes. A result and a batch remember the lane (provider and model) they came
# from; rows written before lanes existed belong to the run's only lane.
_LANE_SCHEMA = (
    "ALTER TABLE results ADD COLUMN lane TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE batches ADD COLUMN lane TEXT NOT NULL DEFAULT ''",
)
_INSERT_CALL = (
    f"INSERT INTO calls ({CALL_COLUMNS})"
    f" VALUES ({', '.join('?' * (len(CALL_FIELDS) + len(USAGE_FIELDS)))})"
)
_UPSERT_BLOCK = upsert_block_sql("?")
_UPSERT_RESULT = upsert_result_sql("?")
_REPLACE_RESULT = replace_result_sql("?")
# Errors that are the file's or the system's, not blockpass's: the user is told in one line.
_DAMAGED_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
_USER_ERROR_CODES = _DAMAGED_CODES | {
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_BUSY,
}
# Far below SQLite's bound on host parameters in one statement.
_LOOKUP_CHUNK = 500


async def open_sqlite_store(
    run_dir: Path, *, clock: Callable[[], float] = time.time
) -> SqliteRunStore:
    """Open (creating if needed) the run directory and its `run.sqlite`, locking nothing.

    `clock` (Unix seconds) is what leases expire by.
    """
    return await anyio.to_thread.run_sync(
        partial(SqliteRunStore.open_blocking, run_dir, clock=clock)
    )


@asynccontextmanager
async def open_run_store(
    run_dir: Path, *, clock: Callable[[], float] = time.time, shared: bool = False
) -> AsyncIterator[SqliteRunStore]:
    """The run directory's store opened for one run, and closed (unlocked) after it.

    One run at a time per run directory: two would pay for the same blocks twice. The lock
    is an advisory ``flock``, which the kernel drops when the holder dies, so a killed run
    never leaves a stale lock behind; a second opener is refused in one line. `shared` is
    for the workers of one job, which divide its packs by lease: they take the lock shared,
    so they keep a sole run out, and it them.
    """
    store = await anyio.to_thread.run_sync(
        partial(SqliteRunStore.open_blocking, run_dir, clock=clock, for_run=True, shared=shared)
    )
    async with store:
        yield store


class SqliteRunStore:
    """`RunStore` on one SQLite file; see `base.py` for the contract."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        run_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        run_lock: IO[str] | None = None,
    ) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._run_dir = run_dir
        self._clock = clock
        self._run_lock = run_lock
        self._lock = threading.Lock()
        self._fingerprints: LaneFingerprints | None = None

    @classmethod
    def open_blocking(
        cls,
        run_dir: Path,
        *,
        clock: Callable[[], float] = time.time,
        for_run: bool = False,
        shared: bool = False,
    ) -> SqliteRunStore:
        """Open the store; `for_run` takes the run directory's lock first (`open_run_store`)."""
        run_lock = _lock_run_directory(run_dir, shared=shared) if for_run else None
        try:
            connection = cls._connect(run_dir)
        except BaseException:
            if run_lock is not None:
                run_lock.close()
            raise
        return cls(connection, run_dir, clock=clock, run_lock=run_lock)

    @staticmethod
    def _connect(run_dir: Path) -> sqlite3.Connection:
        if run_dir.exists() and not run_dir.is_dir():
            raise UserInputError(f"the run directory {run_dir} is a file, not a directory")
        run_dir.mkdir(parents=True, exist_ok=True)
        path = run_dir / RUN_FILE_NAME
        try:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            raise _user_error(path, exc) from exc
        try:
            # WAL with synchronous=NORMAL: a commit is in the WAL file once `record_call`
            # returns, so it survives the process being killed (SIGKILL included). Only a
            # power loss or OS crash may drop the last few commits; the worst case is then
            # that those calls are paid again, never that results lack their usage.
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            connection.execute("PRAGMA busy_timeout = 5000")
            # 64 MiB instead of 2: with 100,000 blocks the indexes outgrow the default
            # cache, and each miss re-reads a page the OS may already have evicted
            # (measured: 100,000 results took 7 s instead of 1.5 s).
            connection.execute("PRAGMA cache_size = -65536")
            _migrate(connection, path)
        except BaseException as exc:
            connection.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise _user_error(path, exc) from exc
            raise
        return connection

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, work: Callable[[sqlite3.Connection], _T], *, write: bool = False) -> _T:
        return await anyio.to_thread.run_sync(self._locked, work, write)

    def _locked(self, work: Callable[[sqlite3.Connection], _T], write: bool) -> _T:
        with self._lock:
            if self._connection is None:
                raise RuntimeError("the run store is closed")
            try:
                # Reads run in a transaction too, so a read of several tables is one snapshot.
                with _transaction(self._connection, "IMMEDIATE" if write else "DEFERRED"):
                    return work(self._connection)
            except sqlite3.DatabaseError as exc:
                if _primary_code(exc) not in _USER_ERROR_CODES:
                    raise
                raise _user_error(self._run_dir / RUN_FILE_NAME, exc) from exc

    def _require_run(self) -> LaneFingerprints:
        if self._fingerprints is None:
            raise RuntimeError("open_run must be called before writing results")
        return self._fingerprints

    async def open_run(
        self,
        *,
        fingerprint: str,
        settings: Mapping[str, str],
        lanes: Mapping[str, str] | None = None,
    ) -> None:
        encoded = json.dumps(dict(settings), sort_keys=True, ensure_ascii=False)

        def work(connection: sqlite3.Connection) -> None:
            now = time.time()
            row = connection.execute("SELECT fingerprint FROM run").fetchone()
            if row is None:
                connection.execute(
                    "INSERT INTO run VALUES (1, ?, ?, ?, ?)", (fingerprint, encoded, now, now)
                )
            elif row[0] != fingerprint:
                raise UserInputError(
                    f"the run directory {self._run_dir} belongs to a different task, guide"
                    " or model; use a new --out directory"
                )
            else:
                connection.execute("UPDATE run SET settings = ?, opened_at = ?", (encoded, now))

        await self._run(work, write=True)
        self._fingerprints = LaneFingerprints(run=fingerprint, lanes=dict(lanes or {}))

    async def join_run(self, lanes: Mapping[str, str] | None = None) -> bool:
        def work(connection: sqlite3.Connection) -> str | None:
            row = connection.execute("SELECT fingerprint FROM run").fetchone()
            return None if row is None else str(row[0])

        fingerprint = await self._run(work)
        if fingerprint is None:
            return False
        self._fingerprints = LaneFingerprints(run=fingerprint, lanes=dict(lanes or {}))
        return True

    async def settings(self) -> dict[str, str]:
        def work(connection: sqlite3.Connection) -> dict[str, str]:
            row = connection.execute("SELECT settings FROM run").fetchone()
            return {} if row is None else {str(k): str(v) for k, v in json.loads(row[0]).items()}

        return await self._run(work)

    async def put_blocks(self, blocks: Sequence[Block]) -> None:
        rows = [block_row(block) for block in blocks]
        await self._run(lambda connection: connection.executemany(_UPSERT_BLOCK, rows), write=True)

    async def blocks(self) -> list[Block]:
        def work(connection: sqlite3.Connection) -> list[Block]:
            query = f"SELECT {BLOCK_COLUMNS} FROM blocks ORDER BY document_id, block_index"
            return [block_from_row(row) for row in connection.execute(query)]

        return await self._run(work)

    async def record_call(self, call: CallRecord, results: Sequence[BlockResult]) -> int:
        fingerprints = self._require_run()
        return await self._run(
            lambda connection: _insert_call(connection, call, results, fingerprints), write=True
        )

    async def start_call(self, start: CallStart) -> int:
        row = start_row(start)
        query = (
            f"INSERT INTO call_starts ({', '.join(START_FIELDS)})"
            f" VALUES ({', '.join('?' * len(START_FIELDS))})"
        )

        def work(connection: sqlite3.Connection) -> int:
            start_id = connection.execute(query, row).lastrowid
            assert start_id is not None
            return start_id

        return await self._run(work, write=True)

    async def call_starts(self, *, open_only: bool = False) -> list[CallStart]:
        where = "WHERE call_id IS NULL" if open_only else ""
        query = f"SELECT id, {', '.join(START_FIELDS)}, call_id FROM call_starts {where}"

        def work(connection: sqlite3.Connection) -> list[CallStart]:
            return [start_from_row(row) for row in connection.execute(query + " ORDER BY id")]

        return await self._run(work)

    async def record_results(self, results: Sequence[BlockResult]) -> None:
        fingerprints = self._require_run()
        await self._run(lambda c: _upsert_results(c, results, fingerprints), write=True)

    async def withdraw_results(self, failures: Sequence[BlockResult]) -> None:
        require_failures(failures)
        fingerprints = self._require_run()
        rows = [(*result_row(result), fingerprints.of(result), time.time()) for result in failures]
        await self._run(lambda c: c.executemany(_REPLACE_RESULT, rows), write=True)

    async def results(self, block_ids: Collection[str] | None = None) -> dict[str, BlockResult]:
        def work(connection: sqlite3.Connection) -> dict[str, BlockResult]:
            query = f"SELECT {RESULT_COLUMNS} FROM results"
            if block_ids is None:
                rows = connection.execute(query)
            else:
                wanted = json.dumps(list(block_ids))
                where = " WHERE block_id IN (SELECT value FROM json_each(?))"
                rows = connection.execute(query + where, (wanted,))
            return {row[0]: result_from_row(row) for row in rows}

        return await self._run(work)

    async def calls(self) -> list[CallRecord]:
        def work(connection: sqlite3.Connection) -> list[CallRecord]:
            carried: dict[int, list[str]] = {}
            query = "SELECT call_id, block_id FROM call_blocks ORDER BY call_id, position"
            for call_id, block_id in connection.execute(query):
                carried.setdefault(call_id, []).append(block_id)
            rows = connection.execute(f"SELECT id, {CALL_COLUMNS} FROM calls ORDER BY id")
            return [call_from_row(row, tuple(carried.get(row[0], ()))) for row in rows]

        return await self._run(work)

    async def lookup_previous_results(
        self, hashes: Collection[str], fingerprint: str
    ) -> dict[str, BlockResult]:
        wanted = sorted(set(hashes))

        def work(connection: sqlite3.Connection) -> dict[str, BlockResult]:
            found: dict[str, BlockResult] = {}
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start : start + _LOOKUP_CHUNK]
                query = (
                    f"SELECT {RESULT_COLUMNS} FROM results WHERE outcome = 'result'"
                    f" AND fingerprint = ? AND content_hash IN ({', '.join('?' * len(chunk))})"
                    " ORDER BY block_id"
                )
                for row in connection.execute(query, (fingerprint, *chunk)):
                    result = result_from_row(row)
                    found.setdefault(result.content_hash, result)
            return found

        return await self._run(work)

    async def add_batch(
        self,
        *,
        label: str,
        provider: str,
        items: Sequence[BatchItemRecord],
        priming: bool = False,
        lane: str = "",
    ) -> StoredBatch:
        def work(connection: sqlite3.Connection) -> StoredBatch:
            batch_id = connection.execute(
                "INSERT INTO batches (label, provider, remote_id, state, remote_status,"
                " priming, created_at, lane) VALUES (?, ?, NULL, ?, '', ?, ?, ?)",
                (label, provider, BatchState.SUBMITTING.value, int(priming), time.time(), lane),
            ).lastrowid
            connection.executemany(
                "INSERT INTO batch_items (batch_id, custom_id, position, block_ids, collected)"
                " VALUES (?, ?, ?, ?, 0)",
                [
                    (batch_id, item.custom_id, position, json.dumps(item.block_ids))
                    for position, item in enumerate(items)
                ],
            )
            return _read_batches(connection, "WHERE id = ?", (batch_id,))[0]

        return await self._run(work, write=True)

    async def update_batch(
        self,
        batch_id: int,
        state: BatchState,
        *,
        remote_id: str | None = None,
        remote_status: str | None = None,
    ) -> None:
        stamp = {BatchState.SUBMITTED: "submitted_at", BatchState.ENDED: "ended_at"}.get(state)
        assignments = ["state = ?", "remote_id = COALESCE(?, remote_id)"]
        assignments.append("remote_status = COALESCE(?, remote_status)")
        if stamp is not None:
            assignments.append(f"{stamp} = COALESCE({stamp}, ?)")
        query = (
            f"UPDATE batches SET {', '.join(assignments)}"
            f" WHERE id = ? AND state NOT IN ({', '.join('?' * len(FINAL_BATCH_STATES))})"
        )
        values: tuple[object, ...] = (state.value, remote_id, remote_status)
        values += (time.time(),) if stamp is not None else ()
        values += (batch_id, *FINAL_BATCH_STATES)
        await self._run(lambda connection: connection.execute(query, values), write=True)

    async def batches(self, *, open_only: bool = False) -> list[StoredBatch]:
        where = f"WHERE state NOT IN ({', '.join('?' * len(FINAL_BATCH_STATES))})"
        if open_only:
            return await self._run(lambda c: _read_batches(c, where, FINAL_BATCH_STATES))
        return await self._run(lambda c: _read_batches(c, "", ()))

    async def batch_by_remote_id(self, remote_id: str) -> StoredBatch | None:
        found = await self._run(lambda c: _read_batches(c, "WHERE remote_id = ?", (remote_id,)))
        return found[0] if found else None

    async def record_batch_item(
        self, batch_id: int, custom_id: str, call: CallRecord, results: Sequence[BlockResult]
    ) -> int | None:
        fingerprints = self._require_run()

        def work(connection: sqlite3.Connection) -> int | None:
            claimed = connection.execute(
                "UPDATE batch_items SET collected = 1"
                " WHERE batch_id = ? AND custom_id = ? AND collected = 0",
                (batch_id, custom_id),
            ).rowcount
            if not claimed:
                return None
            return _insert_call(connection, call, results, fingerprints)

        return await self._run(work, write=True)

    async def first_delivery(self, webhook_id: str, received_at: float) -> bool:
        def work(connection: sqlite3.Connection) -> bool:
            inserted = connection.execute(
                "INSERT INTO webhook_deliveries VALUES (?, ?) ON CONFLICT DO NOTHING",
                (webhook_id, received_at),
            ).rowcount
            return bool(inserted)

        return await self._run(work, write=True)

    async def forget_delivery(self, webhook_id: str) -> None:
        await self._run(
            lambda c: c.execute(
                "DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,)
            ),
            write=True,
        )

    async def claim(
        self, kind: LeaseKind, keys: Sequence[str], *, worker: str, seconds: float
    ) -> Lease | None:
        now = self._clock()
        return await self._run(
            lambda c: sqlite_workers.claim(c, kind, keys, worker=worker, now=now, seconds=seconds),
            write=True,
        )

    async def claim_each(
        self, kind: LeaseKind, keys: Sequence[str], *, worker: str, seconds: float
    ) -> list[Lease]:
        now = self._clock()
        return await self._run(
            lambda c: sqlite_workers.claim_each(
                c, kind, keys, worker=worker, now=now, seconds=seconds
            ),
            write=True,
        )

    async def renew(self, lease: Lease, *, seconds: float) -> Lease | None:
        now = self._clock()
        renewed = await self._run(
            lambda c: sqlite_workers.renew(c, lease, now=now, seconds=seconds), write=True
        )
        return replace(lease, expires_at=now + seconds) if renewed else None

    async def release(self, lease: Lease) -> None:
        await self._run(lambda c: sqlite_workers.release(c, [lease]), write=True)

    async def release_each(self, leases: Sequence[Lease]) -> None:
        await self._run(lambda c: sqlite_workers.release(c, leases), write=True)

    async def leases(self, kind: LeaseKind) -> list[Lease]:
        now = self._clock()
        return await self._run(lambda c: sqlite_workers.leases(c, kind, now=now))

    async def limit_pack_sizes(self, lane: str, sizes: Mapping[str, int]) -> None:
        await self._run(lambda c: sqlite_workers.limit_pack_sizes(c, lane, sizes), write=True)

    async def pack_sizes(self, lane: str) -> dict[str, int]:
        return await self._run(lambda c: sqlite_workers.pack_sizes(c, lane))

    async def save_output_estimates(self, lane: str, tokens_by_kind: Mapping[str, float]) -> None:
        await self._run(
            lambda c: sqlite_workers.save_output_estimates(c, lane, tokens_by_kind), write=True
        )

    async def output_estimates(self, lane: str) -> dict[str, float]:
        return await self._run(lambda c: sqlite_workers.output_estimates(c, lane))

    async def close(self) -> None:
        def work() -> None:
            with self._lock:
                if self._connection is not None:
                    self._connection.close()
                    self._connection = None
                # After the connection: the next run finds every commit of this one.
                if self._run_lock is not None:
                    self._run_lock.close()
                    self._run_lock = None

        await anyio.to_thread.run_sync(work)


def _lock_run_directory(run_dir: Path, *, shared: bool) -> IO[str]:
    with run_directory_errors("cannot use the run directory"):
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = (run_dir / ".lock").open("w")
    try:
        fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise UserInputError(f"another blockpass run is using {run_dir}") from None
    return handle


def _migrate(connection: sqlite3.Connection, path: Path) -> None:
    with _transaction(connection, "IMMEDIATE"):
        # Read inside the write transaction: two processes creating the same file at once
        # must not both create the tables.
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise UserInputError(
                f"{path} was written by a newer blockpass (store version {version});"
                " upgrade blockpass or use a new --out directory"
            )
        if version == 0:
            for statement in _SCHEMA:
                connection.execute(statement)
        if version < 2:
            for statement in _BATCH_SCHEMA:
                connection.execute(statement)
        if version < 3:
            for statement in _START_SCHEMA:
                connection.execute(statement)
        if version < 4:
            for statement in sqlite_workers.WORKER_SCHEMA:
                connection.execute(statement)
        if version < 5:
            for statement in _LANE_SCHEMA:
                connection.execute(statement)
        if version < SCHEMA_VERSION:
            # Only then: opening a current store writes nothing, so a damaged one stays as
            # it was for whoever recovers it.
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _primary_code(error: sqlite3.DatabaseError) -> int | None:
    code: int | None = getattr(error, "sqlite_errorcode", None)
    # Extended codes (SQLITE_CORRUPT_INDEX, SQLITE_IOERR_WRITE) keep the primary in the low byte.
    return None if code is None else code & 0xFF


def _user_error(path: Path, error: sqlite3.DatabaseError) -> UserInputError:
    """What the user is told about a store SQLite cannot read or write.

    A damaged file is left as it is, never replaced: the calls it records were paid for.
    """
    code = _primary_code(error)
    if code in _DAMAGED_CODES:
        # A damaged header and a file that never was a store look the same to SQLite.
        what = (
            "damaged" if code == sqlite3.SQLITE_CORRUPT else "damaged or not a blockpass run store"
        )
        return UserInputError(
            f"the run store {path} is {what} ({error}); blockpass left it untouched: "
            "move it aside to start this run directory again (its finished blocks would be "
            "sent again), or use a new --out"
        )
    if code in _USER_ERROR_CODES:
        return UserInputError(f"cannot use the run store {path}: {error}")
    return UserInputError(f"{path} is not a blockpass run store ({error})")


@contextmanager
def _transaction(connection: sqlite3.Connection, mode: str) -> Iterator[None]:
    # Writes begin IMMEDIATE, taking the write lock up front, so that a write never fails
    # half-way on a lock upgrade when another process shares the file.
    connection.execute(f"BEGIN {mode}")
    try:
        yield
    except BaseException as exc:
        # SQLite rolls back by itself after some errors (disk full, I/O); a second
        # ROLLBACK would then fail and hide the first error.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if isinstance(exc, sqlite3.IntegrityError):
            raise ValueError(f"the run store refused the write: {exc}") from exc
        raise
    connection.execute("COMMIT")


def _insert_call(
    connection: sqlite3.Connection,
    call: CallRecord,
    results: Sequence[BlockResult],
    fingerprints: LaneFingerprints,
) -> int:
    call_id = connection.execute(_INSERT_CALL, call_row(call)).lastrowid
    assert call_id is not None
    connection.executemany(
        "INSERT INTO call_blocks (call_id, position, block_id) VALUES (?, ?, ?)",
        [(call_id, position, bid) for position, bid in enumerate(call.block_ids)],
    )
    if call.start_id is not None:
        connection.execute(
            "UPDATE call_starts SET call_id = ? WHERE id = ?", (call_id, call.start_id)
        )
    stored = [replace(result, call_id=call_id) for result in results]
    _upsert_results(connection, stored, fingerprints)
    return call_id


def _read_batches(
    connection: sqlite3.Connection, where: str, values: Sequence[object]
) -> list[StoredBatch]:
    rows = connection.execute(f"SELECT {BATCH_COLUMNS} FROM batches {where} ORDER BY id", values)
    batches = [batch_from_row(row) for row in rows.fetchall()]
    if not batches:
        return []
    items: dict[int, list[BatchItemRecord]] = {batch.id: [] for batch in batches}
    query = (
        "SELECT batch_id, custom_id, block_ids, collected FROM batch_items"
        f" WHERE batch_id IN ({', '.join('?' * len(items))}) ORDER BY batch_id, position"
    )
    for batch_id, custom_id, block_ids, collected in connection.execute(query, tuple(items)):
        items[batch_id].append(
            BatchItemRecord(
                custom_id=custom_id,
                block_ids=tuple(json.loads(block_ids)),
                collected=bool(collected),
            )
        )
    return [replace(batch, items=tuple(items[batch.id])) for batch in batches]


def _upsert_results(
    connection: sqlite3.Connection, results: Sequence[BlockResult], fingerprints: LaneFingerprints
) -> None:
    now = time.time()
    rows = [(*result_row(result), fingerprints.of(result), now) for result in results]
    if ignored := len(rows) - connection.executemany(_UPSERT_RESULT, rows).rowcount:
        _log.warning("kept the earlier result of %d block(s), ignored the newer one", ignored)


# mypy checks here that the class satisfies the protocol.
_CONFORMS: type[RunStore] = SqliteRunStore
