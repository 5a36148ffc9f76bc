"""The run store: blocks, provider calls with their usage, and per-block results of a run."""

from blockpass.store.base import (
    OPEN_BATCH_STATES,
    BatchItemRecord,
    BatchState,
    CallRecord,
    CallStart,
    CallStatus,
    RunStore,
    StoredBatch,
)
from blockpass.store.sqlite import (
    RUN_FILE_NAME,
    SCHEMA_VERSION,
    SqliteRunStore,
    open_sqlite_store,
)

__all__ = [
    "OPEN_BATCH_STATES",
    "RUN_FILE_NAME",
    "SCHEMA_VERSION",
    "BatchItemRecord",
    "BatchState",
    "CallRecord",
    "CallStart",
    "CallStatus",
    "RunStore",
    "SqliteRunStore",
    "StoredBatch",
    "open_sqlite_store",
]
