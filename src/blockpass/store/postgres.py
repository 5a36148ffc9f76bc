"""The shared run store: runs in a PostgreSQL database, for workers on several machines.

One database holds many runs, each in its own schema, `blockpass_<run>`, named by the
caller (`open_postgres_store(dsn, run="rust-book")`): the tables are `base.py`'s
(`postgres_schema.py`), created the first time a run is opened. Runs share nothing, so a
platform's own schemas and other runs are never touched, and dropping a run's schema
removes it whole. Reuse (`lookup_previous_results`) looks within the run, as with SQLite.

Every operation is one transaction on a connection from a pool (psycopg 3,
`psycopg_pool.AsyncConnectionPool`), so a call and its results commit together, and
concurrent tasks, processes and machines are kept apart by PostgreSQL itself: the result
upsert, the collection of a batch item and a lease claim are each a single atomic
statement. Operations run shielded from cancellation, so an interrupted task never leaves
its caller unsure whether a write it started has finished.

Who may send a run's packs (`RunHold`): a store opened `SOLE` holds the run's session
advisory lock (exclusive) on a connection of its own until it is closed, `SHARED` (a
worker) holds it shared, and `NONE` (a report, a status) holds nothing. A sole run is
thus refused while another sole run or any worker holds the run, and workers are refused
while a sole run holds it; workers divide the packs between them by lease. PostgreSQL
drops the lock when the holding connection ends, so a killed holder leaves no stale lock.
The hold and the pool's `search_path` are session state: connect to PostgreSQL itself or
through a session-mode pooler, never a transaction-mode one.

PostgreSQL text cannot hold a NUL character, which SQLite can: a block with one is
refused in one line when it is stored (a JSON document may carry one as `\\u0000`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import replace
from functools import partial
from typing import Self, TypeVar

import anyio
import psycopg
from psycopg_pool import AsyncConnectionPool

from blockpass.blocks import Block, BlockResult
from blockpass.errors import UserInputError
from blockpass.store import postgres_queries as queries
from blockpass.store import postgres_workers as workers
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
from blockpass.store.locations import RunHold
from blockpass.store.postgres_schema import (
    CONNECT_SECONDS,
    Connection,
    connect_holder,
    create_tables,
    describe_location,
    first_line,
    hold_run,
    release_run,
    schema_name,
    search_path_setter,
)
from blockpass.store.table_rows import (
    BLOCK_COLUMNS,
    CALL_COLUMNS,
    FINAL_BATCH_STATES,
    RESULT_COLUMNS,
    START_FIELDS,
    block_from_row,
    block_row,
    call_from_row,
    result_from_row,
    start_from_row,
    start_row,
)

__all__ = ["PostgresRunStore", "open_postgres_store"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")


async def open_postgres_store(
    dsn: str,
    *,
    run: str,
    hold: RunHold = RunHold.NONE,
    clock: Callable[[], float] = time.time,
    connections: int = 8,
) -> PostgresRunStore:
    """Open run `run` in the database `dsn` names, creating its schema if needed.

    `hold` says how the store holds the run (module docstring); `clock` (Unix seconds) is
    what leases expire by; `connections` bounds the pool.
    """
    schema = schema_name(run)
    where = f"run {run} in {describe_location(dsn)}"
    holder = await connect_holder(dsn, where)
    pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
        dsn,
        min_size=1,
        max_size=connections,
        open=False,
        configure=search_path_setter(schema),
        kwargs={"connect_timeout": CONNECT_SECONDS},
    )
    try:
        if hold is not RunHold.NONE and not await hold_run(
            holder, schema, shared=hold is RunHold.SHARED
        ):
            raise UserInputError(f"another blockpass run is using {where}")
        await create_tables(holder, schema)
        await pool.open(wait=True, timeout=CONNECT_SECONDS)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await pool.close()
            await holder.close()
        if isinstance(exc, psycopg.Error):
            # No right to create the run's schema, a server shutting down, a pool timeout.
            raise UserInputError(f"cannot use the run store ({where}): {first_line(exc)}") from exc
        raise
    if hold is RunHold.NONE:
        await holder.close()
    return PostgresRunStore(
        pool, where, holder=None if hold is RunHold.NONE else holder, clock=clock
    )


class PostgresRunStore:
    """`RunStore` on one run's schema in PostgreSQL; see `base.py` for the contract."""

    def __init__(
        self,
        pool: AsyncConnectionPool[Connection],
        where: str,
        *,
        holder: Connection | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool: AsyncConnectionPool[Connection] | None = pool
        self._where = where
        self._holder = holder
        self._clock = clock
        self._fingerprints: LaneFingerprints | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run(self, work: Callable[[Connection], Awaitable[_T]]) -> _T:
        if self._pool is None:
            raise RuntimeError("the run store is closed")
        with anyio.CancelScope(shield=True):
            done = await self._transaction(self._pool, work)
        return done

    async def _transaction(
        self, pool: AsyncConnectionPool[Connection], work: Callable[[Connection], Awaitable[_T]]
    ) -> _T:
        try:
            async with pool.connection() as connection, connection.transaction():
                return await work(connection)
        except psycopg.IntegrityError as exc:
            raise ValueError(f"the run store refused the write: {first_line(exc)}") from exc
        except (psycopg.OperationalError, psycopg.DataError) as exc:
            # DataError: a value PostgreSQL cannot hold (a NUL character in an error text).
            raise UserInputError(
                f"cannot use the run store ({self._where}): {first_line(exc)}"
            ) from exc

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

        async def work(connection: Connection) -> None:
            now = time.time()
            await connection.execute(
                "INSERT INTO run VALUES (1, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (fingerprint, encoded, now, now),
            )
            stored = await connection.execute("SELECT fingerprint FROM run FOR UPDATE")
            row = await stored.fetchone()
            if row is None or row[0] != fingerprint:
                raise UserInputError(
                    f"the {self._where} belongs to a different task, guide or model; use a"
                    " new --out or another run name"
                )
            await connection.execute("UPDATE run SET settings = %s, opened_at = %s", (encoded, now))

        await self._run(work)
        self._fingerprints = LaneFingerprints(run=fingerprint, lanes=dict(lanes or {}))

    async def join_run(self, lanes: Mapping[str, str] | None = None) -> bool:
        async def work(connection: Connection) -> str | None:
            row = await (await connection.execute("SELECT fingerprint FROM run")).fetchone()
            return None if row is None else str(row[0])

        fingerprint = await self._run(work)
        if fingerprint is None:
            return False
        self._fingerprints = LaneFingerprints(run=fingerprint, lanes=dict(lanes or {}))
        return True

    async def settings(self) -> dict[str, str]:
        async def work(connection: Connection) -> dict[str, str]:
            row = await (await connection.execute("SELECT settings FROM run")).fetchone()
            return {} if row is None else {str(k): str(v) for k, v in json.loads(row[0]).items()}

        return await self._run(work)

    async def put_blocks(self, blocks: Sequence[Block]) -> None:
        for block in blocks:
            if "\x00" in block.text or "\x00" in block.id:
                raise UserInputError(
                    f"{block.document_id}: block {block.index} contains a NUL character,"
                    " which a PostgreSQL store cannot keep; remove it or use a run directory"
                )
        rows = [block_row(block) for block in blocks]

        async def work(connection: Connection) -> None:
            async with connection.cursor() as cursor:
                await cursor.executemany(queries.UPSERT_BLOCK, rows)

        await self._run(work)

    async def blocks(self) -> list[Block]:
        query = f"SELECT {BLOCK_COLUMNS} FROM blocks ORDER BY document_id, block_index"
        return await self._run(lambda c: queries.fetch(c, query, (), block_from_row))

    async def record_call(self, call: CallRecord, results: Sequence[BlockResult]) -> int:
        fingerprints = self._require_run()
        return await self._run(lambda c: queries.insert_call(c, call, results, fingerprints))

    async def start_call(self, start: CallStart) -> int:
        return await self._run(
            lambda c: queries.returned_id(c, queries.INSERT_START, start_row(start))
        )

    async def call_starts(self, *, open_only: bool = False) -> list[CallStart]:
        where = "WHERE call_id IS NULL" if open_only else ""
        query = f"SELECT id, {', '.join(START_FIELDS)}, call_id FROM call_starts {where}"
        return await self._run(
            lambda c: queries.fetch(c, query + " ORDER BY id", (), start_from_row)
        )

    async def record_results(self, results: Sequence[BlockResult]) -> None:
        fingerprints = self._require_run()
        await self._run(lambda c: queries.upsert_results(c, results, fingerprints))

    async def withdraw_results(self, failures: Sequence[BlockResult]) -> None:
        require_failures(failures)
        fingerprints = self._require_run()
        await self._run(lambda c: queries.replace_results(c, failures, fingerprints))

    async def results(self, block_ids: Collection[str] | None = None) -> dict[str, BlockResult]:
        query = f"SELECT {RESULT_COLUMNS} FROM results"
        values: tuple[object, ...] = ()
        if block_ids is not None:
            query += " WHERE block_id = ANY(%s)"
            values = (list(block_ids),)
        found = await self._run(lambda c: queries.fetch(c, query, values, result_from_row))
        return {result.block_id: result for result in found}

    async def calls(self) -> list[CallRecord]:
        async def work(connection: Connection) -> list[CallRecord]:
            carried: dict[int, list[str]] = {}
            query = "SELECT call_id, block_id FROM call_blocks ORDER BY call_id, position"
            for call_id, block_id in await (await connection.execute(query)).fetchall():
                carried.setdefault(call_id, []).append(block_id)
            rows = await connection.execute(f"SELECT id, {CALL_COLUMNS} FROM calls ORDER BY id")
            return [
                call_from_row(row, tuple(carried.get(row[0], ()))) for row in await rows.fetchall()
            ]

        return await self._run(work)

    async def lookup_previous_results(
        self, hashes: Collection[str], fingerprint: str
    ) -> dict[str, BlockResult]:
        query = (
            f"SELECT {RESULT_COLUMNS} FROM results WHERE outcome = 'result'"
            " AND fingerprint = %s AND content_hash = ANY(%s) ORDER BY block_id"
        )
        values = (fingerprint, sorted(set(hashes)))
        found: dict[str, BlockResult] = {}
        for result in await self._run(lambda c: queries.fetch(c, query, values, result_from_row)):
            found.setdefault(result.content_hash, result)
        return found

    async def add_batch(
        self,
        *,
        label: str,
        provider: str,
        items: Sequence[BatchItemRecord],
        priming: bool = False,
        lane: str = "",
    ) -> StoredBatch:
        async def work(connection: Connection) -> StoredBatch:
            batch_id = await queries.returned_id(
                connection,
                "INSERT INTO batches (label, provider, remote_id, state, remote_status,"
                " priming, created_at, lane) VALUES (%s, %s, NULL, %s, '', %s, %s, %s)"
                " RETURNING id",
                (label, provider, BatchState.SUBMITTING.value, priming, time.time(), lane),
            )
            async with connection.cursor() as cursor:
                await cursor.executemany(
                    "INSERT INTO batch_items (batch_id, custom_id, position, block_ids,"
                    " collected) VALUES (%s, %s, %s, %s, FALSE)",
                    [
                        (batch_id, item.custom_id, position, json.dumps(item.block_ids))
                        for position, item in enumerate(items)
                    ],
                )
            return (await queries.read_batches(connection, "WHERE id = %s", (batch_id,)))[0]

        return await self._run(work)

    async def update_batch(
        self,
        batch_id: int,
        state: BatchState,
        *,
        remote_id: str | None = None,
        remote_status: str | None = None,
    ) -> None:
        stamp = {BatchState.SUBMITTED: "submitted_at", BatchState.ENDED: "ended_at"}.get(state)
        assignments = ["state = %s", "remote_id = COALESCE(%s, remote_id)"]
        assignments.append("remote_status = COALESCE(%s, remote_status)")
        if stamp is not None:
            assignments.append(f"{stamp} = COALESCE({stamp}, %s)")
        query = f"UPDATE batches SET {', '.join(assignments)} WHERE id = %s AND state <> ALL(%s)"
        values: tuple[object, ...] = (state.value, remote_id, remote_status)
        values += (time.time(),) if stamp is not None else ()
        values += (batch_id, list(FINAL_BATCH_STATES))
        await self._run(lambda c: queries.execute(c, query, values))

    async def batches(self, *, open_only: bool = False) -> list[StoredBatch]:
        if open_only:
            where = "WHERE state <> ALL(%s)"
            return await self._run(
                lambda c: queries.read_batches(c, where, (list(FINAL_BATCH_STATES),))
            )
        return await self._run(lambda c: queries.read_batches(c, "", ()))

    async def batch_by_remote_id(self, remote_id: str) -> StoredBatch | None:
        found = await self._run(
            lambda c: queries.read_batches(c, "WHERE remote_id = %s", (remote_id,))
        )
        return found[0] if found else None

    async def record_batch_item(
        self, batch_id: int, custom_id: str, call: CallRecord, results: Sequence[BlockResult]
    ) -> int | None:
        fingerprints = self._require_run()

        async def work(connection: Connection) -> int | None:
            # A second collector waits for the first one's row lock, then finds it collected.
            claimed = await connection.execute(
                "UPDATE batch_items SET collected = TRUE"
                " WHERE batch_id = %s AND custom_id = %s AND NOT collected",
                (batch_id, custom_id),
            )
            if not claimed.rowcount:
                return None
            return await queries.insert_call(connection, call, results, fingerprints)

        return await self._run(work)

    async def first_delivery(self, webhook_id: str, received_at: float) -> bool:
        query = "INSERT INTO webhook_deliveries VALUES (%s, %s) ON CONFLICT DO NOTHING"
        return bool(await self._run(lambda c: queries.execute(c, query, (webhook_id, received_at))))

    async def forget_delivery(self, webhook_id: str) -> None:
        query = "DELETE FROM webhook_deliveries WHERE webhook_id = %s"
        await self._run(lambda c: queries.execute(c, query, (webhook_id,)))

    async def claim(
        self, kind: LeaseKind, keys: Sequence[str], *, worker: str, seconds: float
    ) -> Lease | None:
        now = self._clock()
        held = await self._run(lambda c: workers.held_keys(c, kind, now=now))
        for key in keys:
            if key in held:
                continue
            take = partial(workers.take_key, kind=kind, key=key, worker=worker, now=now)
            lease = await self._run(partial(take, seconds=seconds))
            if lease is not None:
                return lease
        return None

    async def claim_each(
        self, kind: LeaseKind, keys: Sequence[str], *, worker: str, seconds: float
    ) -> list[Lease]:
        now = self._clock()
        take = partial(workers.take_keys, kind=kind, keys=keys, worker=worker, now=now)
        return await self._run(partial(take, seconds=seconds))

    async def renew(self, lease: Lease, *, seconds: float) -> Lease | None:
        now = self._clock()
        renewed = await self._run(lambda c: workers.renew(c, lease, now=now, seconds=seconds))
        return replace(lease, expires_at=now + seconds) if renewed else None

    async def release(self, lease: Lease) -> None:
        await self._run(lambda c: workers.release(c, [lease]))

    async def release_each(self, leases: Sequence[Lease]) -> None:
        await self._run(lambda c: workers.release(c, leases))

    async def leases(self, kind: LeaseKind) -> list[Lease]:
        now = self._clock()
        return await self._run(lambda c: workers.leases(c, kind, now=now))

    async def limit_pack_sizes(self, lane: str, sizes: Mapping[str, int]) -> None:
        await self._run(lambda c: workers.limit_pack_sizes(c, lane, sizes))

    async def pack_sizes(self, lane: str) -> dict[str, int]:
        return await self._run(lambda c: workers.pack_sizes(c, lane))

    async def save_output_estimates(self, lane: str, tokens_by_kind: Mapping[str, float]) -> None:
        await self._run(lambda c: workers.save_output_estimates(c, lane, tokens_by_kind))

    async def output_estimates(self, lane: str) -> dict[str, float]:
        return await self._run(lambda c: workers.output_estimates(c, lane))

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):
            pool, self._pool = self._pool, None
            if pool is not None:
                await pool.close()
            # After the pool: the next holder finds every commit of this one.
            holder, self._holder = self._holder, None
            if holder is not None:
                await release_run(holder)


# mypy checks here that the class satisfies the protocol.
_CONFORMS: type[RunStore] = PostgresRunStore
