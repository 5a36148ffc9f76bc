"""A run store by where it lives: a run directory (SQLite) or a `postgresql://` URL.

The PostgreSQL store and its driver are imported only when a URL names one, so a command
that never meets a URL never loads psycopg.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path

from blockpass.errors import UserInputError
from blockpass.store.base import RunStore
from blockpass.store.sqlite import open_run_store, open_sqlite_store

__all__ = ["POSTGRES_SCHEMES", "RunHold", "is_postgres_url", "open_store_at"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class RunHold(StrEnum):
    """How a store opened on a run holds it against other openers.

    Two holders that would both send the run's packs unsupervised pay for them twice; a
    worker among workers divides them by lease (`RunStore.claim`) and may share the run.
    """

    NONE = "none"  # a reader: a report, a status, the webhook receiver
    SOLE = "sole"  # one process runs the job and refuses every other holder
    SHARED = "shared"  # one of the workers of a job; refused while a sole holder runs


def is_postgres_url(location: str) -> bool:
    return location.startswith(POSTGRES_SCHEMES)


@asynccontextmanager
async def open_store_at(
    location: str | Path,
    *,
    run: str | None = None,
    hold: RunHold = RunHold.SOLE,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[RunStore]:
    """The store at `location`, holding its run as `hold` says, closed afterwards.

    A PostgreSQL database holds many runs, so a URL needs `run` to name one; a run directory
    is one run, and naming another there is a mistake the user is told about. A run
    directory is held by its file lock (`open_run_store`), exclusive or shared, as a
    PostgreSQL run by its advisory lock: the same rule on both stores.
    """
    if isinstance(location, str) and is_postgres_url(location):
        if run is None:
            raise UserInputError(f"a PostgreSQL store needs a run name to open ({location})")
        from blockpass.store.postgres import open_postgres_store

        async with await open_postgres_store(location, run=run, hold=hold, clock=clock) as store:
            yield store
        return
    if run is not None:
        raise UserInputError(
            f"{location} is a run directory, which holds one run: a run name is for a"
            " PostgreSQL store"
        )
    if hold is RunHold.NONE:
        async with await open_sqlite_store(Path(location), clock=clock) as store:
            yield store
        return
    shared = hold is RunHold.SHARED
    async with open_run_store(Path(location), clock=clock, shared=shared) as store:
        yield store
