"""The PostgreSQL store's statements on one connection, inside the transaction the store
(`postgres.py`) opened: what several of its operations share."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from psycopg.rows import TupleRow

from blockpass.blocks import BlockResult
from blockpass.store.base import BatchItemRecord, CallRecord, LaneFingerprints, StoredBatch
from blockpass.store.postgres_schema import Connection
from blockpass.store.table_rows import (
    BATCH_COLUMNS,
    CALL_COLUMNS,
    START_FIELDS,
    batch_from_row,
    call_row,
    replace_result_sql,
    result_row,
    upsert_block_sql,
    upsert_result_sql,
)

__all__ = [
    "INSERT_START",
    "UPSERT_BLOCK",
    "execute",
    "fetch",
    "insert_call",
    "read_batches",
    "replace_results",
    "returned_id",
    "upsert_results",
]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

UPSERT_BLOCK = upsert_block_sql("%s")
UPSERT_RESULT = upsert_result_sql("%s")
REPLACE_RESULT = replace_result_sql("%s")
INSERT_CALL = (
    f"INSERT INTO calls ({CALL_COLUMNS})"
    f" VALUES ({', '.join(['%s'] * len(CALL_COLUMNS.split(', ')))}) RETURNING id"
)
INSERT_START = (
    f"INSERT INTO call_starts ({', '.join(START_FIELDS)})"
    f" VALUES ({', '.join(['%s'] * len(START_FIELDS))}) RETURNING id"
)


async def execute(connection: Connection, query: str, values: Sequence[object]) -> int:
    return (await connection.execute(query, values)).rowcount


async def returned_id(connection: Connection, query: str, values: Sequence[object]) -> int:
    row = await (await connection.execute(query, values)).fetchone()
    assert row is not None
    return int(row[0])


async def fetch(
    connection: Connection,
    query: str,
    values: Sequence[object],
    convert: Callable[[TupleRow], _T],
) -> list[_T]:
    rows = await connection.execute(query, values)
    return [convert(row) for row in await rows.fetchall()]


async def insert_call(
    connection: Connection,
    call: CallRecord,
    results: Sequence[BlockResult],
    fingerprints: LaneFingerprints,
) -> int:
    call_id = await returned_id(connection, INSERT_CALL, call_row(call))
    async with connection.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO call_blocks (call_id, position, block_id) VALUES (%s, %s, %s)",
            [(call_id, position, bid) for position, bid in enumerate(call.block_ids)],
        )
    if call.start_id is not None:
        await connection.execute(
            "UPDATE call_starts SET call_id = %s WHERE id = %s", (call_id, call.start_id)
        )
    stored = [replace(result, call_id=call_id) for result in results]
    await upsert_results(connection, stored, fingerprints)
    return call_id


async def upsert_results(
    connection: Connection, results: Sequence[BlockResult], fingerprints: LaneFingerprints
) -> None:
    now = time.time()
    rows = [(*result_row(result), fingerprints.of(result), now) for result in results]
    async with connection.cursor() as cursor:
        await cursor.executemany(UPSERT_RESULT, rows)
        changed = cursor.rowcount
    if ignored := len(rows) - changed:
        _log.warning("kept the earlier result of %d block(s), ignored the newer one", ignored)


async def replace_results(
    connection: Connection, results: Sequence[BlockResult], fingerprints: LaneFingerprints
) -> None:
    now = time.time()
    rows = [(*result_row(result), fingerprints.of(result), now) for result in results]
    async with connection.cursor() as cursor:
        await cursor.executemany(REPLACE_RESULT, rows)


async def read_batches(
    connection: Connection, where: str, values: Sequence[object]
) -> list[StoredBatch]:
    query = f"SELECT {BATCH_COLUMNS} FROM batches {where} ORDER BY id"
    batches = await fetch(connection, query, values, batch_from_row)
    if not batches:
        return []
    items: dict[int, list[BatchItemRecord]] = {batch.id: [] for batch in batches}
    rows = await connection.execute(
        "SELECT batch_id, custom_id, block_ids, collected FROM batch_items"
        " WHERE batch_id = ANY(%s) ORDER BY batch_id, position",
        (list(items),),
    )
    for batch_id, custom_id, block_ids, collected in await rows.fetchall():
        items[batch_id].append(
            BatchItemRecord(
                custom_id=custom_id, block_ids=tuple(json.loads(block_ids)), collected=collected
            )
        )
    return [replace(batch, items=tuple(items[batch.id])) for batch in batches]
