"""Store fixtures: every test in this folder runs against each `RunStore` implementation.

A factory opens stores by run name: the same name opens the same run again (a new store
object on the same data, as after a restart), another name a separate run. The SQLite
factory keeps a run directory per name; the PostgreSQL one a run (schema) per name in the
database of this pytest worker's server, with a prefix of its own so tests never share runs.
"""

from __future__ import annotations

import queue
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Protocol

import pytest

from blockpass.blocks import Block, BlockKind, BlockResult, Outcome, Verdict
from blockpass.store import RUN_FILE_NAME, CallRecord, CallStatus, RunStore, open_sqlite_store
from blockpass.store.postgres import open_postgres_store
from blockpass.usage import Usage
from tests.postgres_server import PostgresServer

FINGERPRINT = "fp-task-guide-model"
SETTINGS = {"mode": "realtime", "concurrency": "4"}


class StoreFactory(Protocol):
    async def open(self, name: str = "run", *, clock: Callable[[], float] = time.time) -> RunStore:
        """A store on run `name`; its leases expire by `clock` (Unix seconds)."""
        ...

    def child_opener(self, name: str = "run") -> str:
        """Python source defining `async def open_store()` for use in a child process."""
        ...

    async def close_all(self) -> None: ...


class SqliteFactory:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.opened: list[RunStore] = []

    async def open(self, name: str = "run", *, clock: Callable[[], float] = time.time) -> RunStore:
        store = await open_sqlite_store(self.root / name, clock=clock)
        self.opened.append(store)
        return store

    def child_opener(self, name: str = "run") -> str:
        return (
            "from pathlib import Path\n"
            "from blockpass.store import open_sqlite_store\n"
            "async def open_store():\n"
            f"    return await open_sqlite_store(Path({str(self.root / name)!r}))\n"
        )

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()


class PostgresFactory:
    def __init__(self, server: PostgresServer) -> None:
        self.dsn = server.dsn()
        self.prefix = f"t{uuid.uuid4().hex[:12]}-"
        self.opened: list[RunStore] = []

    def run(self, name: str) -> str:
        return self.prefix + name

    async def open(self, name: str = "run", *, clock: Callable[[], float] = time.time) -> RunStore:
        store = await open_postgres_store(self.dsn, run=self.run(name), clock=clock)
        self.opened.append(store)
        return store

    def child_opener(self, name: str = "run") -> str:
        return (
            "from blockpass.store.postgres import open_postgres_store\n"
            "async def open_store():\n"
            f"    return await open_postgres_store({self.dsn!r}, run={self.run(name)!r})\n"
        )

    async def close_all(self) -> None:
        for store in self.opened:
            await store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def stores(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[StoreFactory]:
    factory: StoreFactory
    if request.param == "sqlite":
        factory = SqliteFactory(tmp_path)
    else:
        factory = PostgresFactory(request.getfixturevalue("postgres_server"))
    yield factory
    await factory.close_all()


@pytest.fixture
async def store(stores: StoreFactory) -> RunStore:
    """A store with the run opened, ready for writes."""
    opened = await stores.open()
    await opened.open_run(fingerprint=FINGERPRINT, settings=SETTINGS)
    return opened


def make_block(document_id: str = "doc.md", index: int = 0, text: str = "Some text.") -> Block:
    return Block.create(document_id=document_id, index=index, kind=BlockKind.PARAGRAPH, text=text)


def make_call(block_ids: tuple[str, ...], **changes: Any) -> CallRecord:
    call = CallRecord(
        pack_id="pack-1",
        provider="anthropic",
        model="claude-sonnet-4-5",
        block_ids=block_ids,
        usage=Usage(uncached_input=120, cache_write_5m=3000, output=40),
        batch=False,
        status=CallStatus.OK,
        started_at=1_700_000_000.25,
        finished_at=1_700_000_002.5,
    )
    return replace(call, **changes)


def make_result(block: Block, outcome: Outcome = Outcome.RESULT, **changes: Any) -> BlockResult:
    verdict = Verdict.OK if outcome is Outcome.RESULT else None
    result = BlockResult(
        block_id=block.id, content_hash=block.content_hash, outcome=outcome, verdict=verdict
    )
    return replace(result, **changes)


# The tables and columns each schema version added, for turning a current store back into an
# older one.
TABLES_SINCE = {
    2: ("batch_items", "batches", "webhook_deliveries"),
    3: ("call_starts",),
    4: ("leases", "lane_pack_sizes", "lane_output_estimates"),
}
COLUMNS_SINCE = {5: (("results", "lane"), ("batches", "lane"))}


def make_older(run_dir: Path, version: int) -> None:
    """Turn the closed store in `run_dir` into one of schema `version`, as older blockpass
    wrote it: without the tables later versions added."""
    dropped = [
        table for since, tables in TABLES_SINCE.items() if since > version for table in tables
    ]
    columns = [
        f"ALTER TABLE {table} DROP COLUMN {column}; "
        for since, pairs in COLUMNS_SINCE.items()
        if since > version
        for table, column in pairs
    ]
    connection = sqlite3.connect(run_dir / RUN_FILE_NAME)
    connection.executescript(
        "".join(columns)
        + "".join(f"DROP TABLE {table}; " for table in dropped)
        + f"PRAGMA user_version = {version};"
    )
    connection.close()


async def put_numbered_blocks(store: RunStore, count: int) -> list[Block]:
    blocks = [make_block("doc.md", index, f"Paragraph {index}.") for index in range(count)]
    await store.put_blocks(blocks)
    return blocks


# A child process that records one call with three results per iteration, forever, and
# prints each call id once `record_call` has returned (committed).
WRITER_UNTIL_KILLED = """
import time
import uuid
from itertools import count
import anyio
from blockpass.blocks import Block, BlockKind, BlockResult, Edit, Outcome, Verdict
from blockpass.store import CallRecord
from blockpass.store.postgres import open_postgres_store
from blockpass.usage import Usage
from tests.postgres_server import PostgresServer
{opener}
async def main():
    store = await open_store()
    await store.open_run(fingerprint={fingerprint!r}, settings={{}})
    for n in count():
        blocks = [
            Block.create(document_id=f"doc{{n}}", index=i, kind=BlockKind.PARAGRAPH, text=f"T{{i}}")
            for i in range(3)
        ]
        await store.put_blocks(blocks)
        call = CallRecord(
            pack_id=f"pack-{{n}}", provider="sandbox", model="m",
            block_ids=tuple(b.id for b in blocks), usage=Usage(uncached_input=100, output=9),
            batch=False, status="ok", started_at=time.time(), finished_at=time.time(),
        )
        edit = Edit(find="T", replace="t", rule="lower")
        results = [
            BlockResult(block_id=b.id, content_hash=b.content_hash, outcome=Outcome.RESULT,
                        verdict=Verdict.EDIT, edits=(edit,))
            for b in blocks
        ]
        print(await store.record_call(call, results), flush=True)
anyio.run(main)
"""


def _read_lines(stream: IO[str], into: queue.Queue[str | None]) -> None:
    for line in stream:
        into.put(line)
    into.put(None)


def kill_after_lines(source: str, lines_wanted: int, stderr_path: Path) -> None:
    """Run `source` in a child and SIGKILL it once it has printed `lines_wanted` lines."""
    with stderr_path.open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-c", source], stdout=subprocess.PIPE, stderr=stderr, text=True
        )
    assert child.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
    reader.start()
    try:
        for _ in range(lines_wanted):
            if lines.get(timeout=60) is None:
                pytest.fail(f"the child ended early: {stderr_path.read_text()}")
        child.kill()  # SIGKILL: no handler, no atexit, no close
        assert child.wait(timeout=60) < 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        # The child is gone, so the reader meets the end of the pipe; close it only then.
        reader.join(timeout=60)
        child.stdout.close()
