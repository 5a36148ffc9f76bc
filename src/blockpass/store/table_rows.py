"""Rows of the run store's tables as every backend keeps them, and back to values.

The columns are those of `base.py`'s layout; JSON lists are stored as text. Backends differ
in SQL dialect and types (SQLite stores booleans as 0/1), not in what a row holds.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from blockpass.blocks import Block, BlockKind, BlockResult, Edit, Outcome, Span, Verdict
from blockpass.store.base import BatchState, CallRecord, CallStart, StoredBatch
from blockpass.usage import Usage

__all__ = [
    "BATCH_COLUMNS",
    "BLOCK_COLUMNS",
    "CALL_COLUMNS",
    "CALL_FIELDS",
    "FINAL_BATCH_STATES",
    "RESULT_COLUMNS",
    "START_FIELDS",
    "USAGE_FIELDS",
    "batch_from_row",
    "block_from_row",
    "block_row",
    "call_from_row",
    "call_row",
    "result_from_row",
    "result_row",
    "start_from_row",
    "start_row",
    "upsert_block_sql",
    "upsert_result_sql",
]

START_FIELDS: tuple[str, ...] = ("pack_id", "provider", "model", "block_ids", "attempt")
START_FIELDS += ("input_tokens", "max_output", "cache_ttl", "started_at")
BATCH_COLUMNS = (
    "id, label, provider, remote_id, state, remote_status, priming,"
    " created_at, submitted_at, ended_at, lane"
)
FINAL_BATCH_STATES = tuple(
    state.value for state in (BatchState.COLLECTED, BatchState.ABANDONED, BatchState.UNPROVEN)
)

BLOCK_COLUMNS = (
    "id, document_id, block_index, kind, text, content_hash,"
    " span_start, span_end, span_line, span_column"
)
# Named as the fields of CallRecord and Usage, so rows convert by name.
CALL_FIELDS: tuple[str, ...] = ("pack_id", "provider", "model", "batch", "status", "error")
CALL_FIELDS += ("attempt", "started_at", "finished_at")
USAGE_FIELDS = ("uncached_input", "cache_write_5m", "cache_write_1h", "cache_read", "output")
CALL_COLUMNS = ", ".join((*CALL_FIELDS, *USAGE_FIELDS))
RESULT_COLUMNS = (
    "block_id, content_hash, outcome, verdict, edits, notes, rejected_edits, reason, call_id, lane"
)


def upsert_block_sql(placeholder: str) -> str:
    """Insert a block, or update it by id; `placeholder` is the driver's (`?`, `%s`)."""
    return _upsert_sql("blocks", BLOCK_COLUMNS.split(", "), "id", placeholder)


_STORED_RESULT_COLUMNS = [*RESULT_COLUMNS.split(", "), "fingerprint", "recorded_at"]


def upsert_result_sql(placeholder: str) -> str:
    """Store a result (`result_row` plus fingerprint and time) under the at-most-one-result
    rule: only a non-final row, or a row about other content, gives way. A statement that
    meets the rule changes no row, which the row count shows."""
    rule = "results.outcome <> 'result' OR results.content_hash <> excluded.content_hash"
    return _upsert_sql("results", _STORED_RESULT_COLUMNS, "block_id", placeholder, where=rule)


def replace_result_sql(placeholder: str) -> str:
    """Store a result whatever the block had before (`RunStore.withdraw_results`)."""
    return _upsert_sql("results", _STORED_RESULT_COLUMNS, "block_id", placeholder)


def _upsert_sql(
    table: str, columns: list[str], key: str, placeholder: str, *, where: str = ""
) -> str:
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns if column != key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)})"
        f" VALUES ({', '.join([placeholder] * len(columns))})"
        f" ON CONFLICT ({key}) DO UPDATE SET {updates}" + (f" WHERE {where}" if where else "")
    )


def batch_from_row(row: Any) -> StoredBatch:
    batch_id, label, provider, remote_id, state, remote_status, priming, *times, lane = row
    created_at, submitted_at, ended_at = times
    return StoredBatch(
        id=batch_id,
        label=label,
        provider=provider,
        remote_id=remote_id,
        state=BatchState(state),
        remote_status=remote_status,
        priming=bool(priming),
        created_at=created_at,
        submitted_at=submitted_at,
        ended_at=ended_at,
        items=(),
        lane=lane,
    )


def block_row(block: Block) -> tuple[object, ...]:
    span = block.span
    where = (None,) * 4 if span is None else (span.start, span.end, span.line, span.column)
    kind = block.kind.value
    return (block.id, block.document_id, block.index, kind, block.text, block.content_hash, *where)


def block_from_row(row: Any) -> Block:
    block_id, document_id, index, kind, text, content_hash, start, end, line, column = row
    span = None if start is None else Span(start=start, end=end, line=line, column=column)
    return Block(
        id=block_id,
        document_id=document_id,
        index=index,
        kind=BlockKind(kind),
        text=text,
        content_hash=content_hash,
        span=span,
    )


def start_from_row(row: Any) -> CallStart:
    values = dict(zip(("id", *START_FIELDS, "call_id"), row, strict=True))
    values["block_ids"] = tuple(json.loads(values["block_ids"]))
    return CallStart(**values)


def call_from_row(row: Any, block_ids: tuple[str, ...]) -> CallRecord:
    values = dict(zip(("id", *CALL_FIELDS), row, strict=False))
    values["batch"] = bool(values["batch"])
    usage = Usage(**dict(zip(USAGE_FIELDS, row[-len(USAGE_FIELDS) :], strict=True)))
    return CallRecord(**values, block_ids=block_ids, usage=usage)


# Most results carry no edits and no notes: the shortcuts for empty lists halve the time
# to write and read 100,000 results.
def edits_json(edits: tuple[Edit, ...]) -> str:
    return json.dumps([asdict(edit) for edit in edits], ensure_ascii=False) if edits else "[]"


def edits(text: str) -> tuple[Edit, ...]:
    return () if text == "[]" else tuple(Edit(**item) for item in json.loads(text))


def result_row(result: BlockResult) -> tuple[object, ...]:
    return (
        result.block_id,
        result.content_hash,
        result.outcome.value,
        None if result.verdict is None else result.verdict.value,
        edits_json(result.edits),
        json.dumps(result.notes, ensure_ascii=False) if result.notes else "[]",
        edits_json(result.rejected_edits),
        result.reason,
        result.call_id,
        result.lane,
    )


def result_from_row(row: Any) -> BlockResult:
    return BlockResult(
        block_id=row[0],
        content_hash=row[1],
        outcome=Outcome(row[2]),
        verdict=None if row[3] is None else Verdict(row[3]),
        edits=edits(row[4]),
        notes=() if row[5] == "[]" else tuple(json.loads(row[5])),
        rejected_edits=edits(row[6]),
        reason=row[7],
        call_id=row[8],
        lane=row[9],
    )


def call_row(call: CallRecord) -> tuple[object, ...]:
    """The values of `CALL_COLUMNS`."""
    return (
        *(getattr(call, name) for name in CALL_FIELDS),
        *(getattr(call.usage, name) for name in USAGE_FIELDS),
    )


def start_row(start: CallStart) -> tuple[object, ...]:
    """The values of `START_FIELDS`."""
    return tuple(
        json.dumps(start.block_ids) if name == "block_ids" else getattr(start, name)
        for name in START_FIELDS
    )
