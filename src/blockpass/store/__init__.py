"""The run store: blocks, provider calls with their usage, and per-block results of a run.

The PostgreSQL store (`blockpass.store.postgres`) is not imported here: it needs the
`postgres` extra, and `open_store_at` loads it only for a `postgresql://` location.
"""

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
from blockpass.store.locations import RunHold, open_store_at
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
    "RunHold",
    "RunStore",
    "SqliteRunStore",
    "StoredBatch",
    "open_run_store",
    "open_sqlite_store",
    "open_store_at",
]
