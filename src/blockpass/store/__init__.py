"""The run store: blocks, provider calls with their usage, and per-block results of a run."""

from blockpass.store.base import CallRecord, CallStatus, RunStore
from blockpass.store.sqlite import (
    RUN_FILE_NAME,
    SCHEMA_VERSION,
    SqliteRunStore,
    open_sqlite_store,
)

__all__ = [
    "RUN_FILE_NAME",
    "SCHEMA_VERSION",
    "CallRecord",
    "CallStatus",
    "RunStore",
    "SqliteRunStore",
    "open_sqlite_store",
]
