"""The run store: blocks, provider calls with their usage, and per-block results of a run."""

from blockpass.store.base import (
    OPEN_BATCH_STATES,
    BatchItemRecord,
    BatchState,
    CallRecord,
    CallStart,
    CallStatus,
    Lease,
    LeaseKind,
    RunStore,
    StoredBatch,
)
from blockpass.store.sqlite import (
    RUN_FILE_NAME,
    SCHEMA_VERSION,
    SqliteRunStore,
    open_run_store,
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
    "Lease",
    "LeaseKind",
    "RunStore",
    "SqliteRunStore",
    "StoredBatch",
    "open_run_store",
    "open_sqlite_store",
]
