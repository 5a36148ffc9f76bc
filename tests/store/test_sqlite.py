"""SQLite only: the run directory's file, and stores older blockpass versions wrote.

The rest of the store's contract is tested on every store (the other modules here).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from blockpass.errors import UserInputError
from blockpass.sandbox.clock import ManualClock
from blockpass.store import RUN_FILE_NAME, SCHEMA_VERSION, LeaseKind, open_sqlite_store
from tests.store.conftest import (
    FINGERPRINT,
    make_call,
    make_older,
    make_result,
    put_numbered_blocks,
)
from tests.store.test_call_starts import make_start
from tests.store.test_lanes import LANE, OTHER_LANE

pytestmark = pytest.mark.anyio


async def test_open_sqlite_store_creates_the_directory_and_the_file(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "first"
    async with await open_sqlite_store(run_dir) as store:
        await store.open_run(fingerprint=FINGERPRINT, settings={})

    assert (run_dir / RUN_FILE_NAME).is_file()


async def test_a_file_that_is_not_a_store_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / RUN_FILE_NAME).write_bytes(b"not a database at all, " * 100)

    with pytest.raises(UserInputError, match="not a blockpass run store"):
        await open_sqlite_store(tmp_path)


async def test_a_run_directory_that_is_a_file_is_a_user_error(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")

    with pytest.raises(UserInputError, match="is a file"):
        await open_sqlite_store(tmp_path / "out")


async def test_a_store_written_by_a_newer_blockpass_is_refused(tmp_path: Path) -> None:
    await (await open_sqlite_store(tmp_path)).close()
    with sqlite3.connect(tmp_path / RUN_FILE_NAME) as connection:
        connection.execute("PRAGMA user_version = 99")
    connection.close()

    with pytest.raises(UserInputError, match="newer blockpass"):
        await open_sqlite_store(tmp_path)


async def test_a_version_1_store_gains_the_batch_tables_when_opened(tmp_path: Path) -> None:
    await (await open_sqlite_store(tmp_path)).close()
    make_older(tmp_path, 1)
    with sqlite3.connect(tmp_path / RUN_FILE_NAME) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    connection.close()
    assert "batches" not in tables
    assert "results" in tables
    store = await open_sqlite_store(tmp_path)
    assert await store.batches() == []
    await store.close()


async def test_a_version_2_store_gains_the_call_starts_table_when_opened(tmp_path: Path) -> None:
    store = await open_sqlite_store(tmp_path)
    await store.close()
    make_older(tmp_path, 2)

    store = await open_sqlite_store(tmp_path)
    await store.open_run(fingerprint=FINGERPRINT, settings={})
    assert await store.call_starts() == []
    await store.start_call(make_start(()))
    assert len(await store.call_starts(open_only=True)) == 1
    await store.close()


async def test_a_version_3_store_opens_with_its_run_and_gains_leases_and_lane_state(
    tmp_path: Path,
) -> None:
    store = await open_sqlite_store(tmp_path)
    await store.open_run(fingerprint=FINGERPRINT, settings={"model": "m"})
    blocks = await put_numbered_blocks(store, 2)
    await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    await store.close()
    make_older(tmp_path, 3)

    clock = ManualClock()
    store = await open_sqlite_store(tmp_path, clock=clock.now)
    await store.open_run(fingerprint=FINGERPRINT, settings={"model": "m"})
    assert len(await store.calls()) == 1
    assert set(await store.results()) == {blocks[0].id}
    await store.limit_pack_sizes(LANE, {blocks[1].id: 5})
    assert await store.pack_sizes(LANE) == {blocks[1].id: 5}
    lease = await store.claim(LeaseKind.PACK, ["p-1"], worker="a", seconds=30)
    assert lease is not None
    assert lease.expires_at == clock.now() + 30
    await store.close()
    with sqlite3.connect(tmp_path / RUN_FILE_NAME) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    connection.close()


async def test_a_version_4_store_gains_lanes_and_its_rows_belong_to_the_only_lane(
    tmp_path: Path,
) -> None:
    store = await open_sqlite_store(tmp_path)
    await store.open_run(fingerprint=FINGERPRINT, settings={})
    blocks = await put_numbered_blocks(store, 1)
    await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    await store.add_batch(label="blockpass-old", provider="sandbox", items=[])
    await store.close()
    make_older(tmp_path, 4)

    store = await open_sqlite_store(tmp_path)
    await store.open_run(fingerprint=FINGERPRINT, settings={})
    (result,) = (await store.results()).values()
    (batch,) = await store.batches()
    assert result.lane == batch.lane == ""
    assert batch.belongs_to(LANE)
    assert batch.belongs_to(OTHER_LANE)
    await store.close()
