"""A SQLite store opened for a run is the run directory's one runner until it is closed."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from blockpass.errors import UserInputError
from blockpass.store import open_run_store, open_sqlite_store
from tests.store.conftest import FINGERPRINT

pytestmark = pytest.mark.anyio


async def test_two_runs_cannot_share_a_run_directory(tmp_path: Path) -> None:
    async with open_run_store(tmp_path):
        with pytest.raises(UserInputError, match="another blockpass run"):
            async with open_run_store(tmp_path):
                pass


async def test_a_run_directory_is_free_again_once_its_run_store_is_closed(tmp_path: Path) -> None:
    async with open_run_store(tmp_path) as first:
        await first.open_run(fingerprint=FINGERPRINT, settings={})
    async with open_run_store(tmp_path) as second:
        await second.open_run(fingerprint=FINGERPRINT, settings={})
        assert await second.settings() == {}


async def test_a_run_in_another_process_is_refused_in_one_line(tmp_path: Path) -> None:
    async with open_run_store(tmp_path):
        source = (
            "import anyio\n"
            "from pathlib import Path\n"
            "from blockpass.store import open_run_store\n"
            "async def main():\n"
            f"    async with open_run_store(Path({str(tmp_path)!r})):\n"
            "        pass\n"
            "anyio.run(main)\n"
        )
        with anyio.fail_after(60):
            child = await anyio.run_process([sys.executable, "-c", source], check=False)
    assert child.returncode != 0
    assert f"another blockpass run is using {tmp_path}" in child.stderr.decode()


async def test_a_reader_opens_the_store_of_a_run_that_is_running(tmp_path: Path) -> None:
    async with open_run_store(tmp_path) as running:
        await running.open_run(fingerprint=FINGERPRINT, settings={"model": "m"})
        async with await open_sqlite_store(tmp_path) as reader:
            assert await reader.settings() == {"model": "m"}


async def test_a_run_store_that_cannot_be_opened_leaves_the_directory_unlocked(
    tmp_path: Path,
) -> None:
    (tmp_path / "run.sqlite").write_bytes(b"not a database at all, " * 100)
    with pytest.raises(UserInputError, match="not a blockpass run store"):
        async with open_run_store(tmp_path):
            pass
    (tmp_path / "run.sqlite").unlink()
    async with open_run_store(tmp_path) as store:
        await store.open_run(fingerprint=FINGERPRINT, settings={})
