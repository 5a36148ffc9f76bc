"""Stores opened by location, and how a run is held, the same on both stores: one sole run
or any number of workers at a time; readers always."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import uuid
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

import anyio
import pytest

from blockpass.errors import UserInputError
from blockpass.store import RunStore, SqliteRunStore
from blockpass.store.locations import RunHold, open_store_at
from blockpass.store.postgres import PostgresRunStore
from tests.postgres_server import PostgresServer
from tests.store.conftest import FINGERPRINT

pytestmark = pytest.mark.anyio


@pytest.fixture
def dsn(postgres_server: PostgresServer) -> str:
    return postgres_server.dsn()


async def test_a_url_opens_the_postgresql_store_and_a_path_the_run_directory(
    dsn: str, tmp_path: Path
) -> None:
    async with open_store_at(dsn, run="by-url") as shared:
        assert isinstance(shared, PostgresRunStore)
        await shared.open_run(fingerprint=FINGERPRINT, settings={"k": "v"})
    async with open_store_at(dsn.replace("postgresql://", "postgres://"), run="by-url") as again:
        assert await again.settings() == {"k": "v"}
    async with open_store_at(tmp_path) as embedded:
        assert isinstance(embedded, SqliteRunStore)
        with pytest.raises(UserInputError, match="another blockpass run"):
            async with open_store_at(str(tmp_path)):
                pass


async def test_a_url_without_a_run_and_a_directory_with_one_are_user_errors(
    dsn: str, tmp_path: Path
) -> None:
    with pytest.raises(UserInputError, match="needs a run name"):
        async with open_store_at(dsn):
            pass
    with pytest.raises(UserInputError, match="holds one run"):
        async with open_store_at(tmp_path, run="named"):
            pass


class OpenHeld(Protocol):
    def __call__(
        self, run: str, hold: RunHold = RunHold.SOLE
    ) -> AbstractAsyncContextManager[RunStore]: ...


@pytest.fixture(params=["sqlite", "postgresql"])
def open_held(request: pytest.FixtureRequest, tmp_path: Path) -> OpenHeld:
    """Opens run `run` held as `hold`: a run directory, or a run in this worker's database."""
    if request.param == "sqlite":
        return lambda run, hold=RunHold.SOLE: open_store_at(tmp_path / run, hold=hold)
    dsn = request.getfixturevalue("postgres_server").dsn()
    prefix = f"t{uuid.uuid4().hex[:12]}-"
    return lambda run, hold=RunHold.SOLE: open_store_at(dsn, run=prefix + run, hold=hold)


async def test_a_sole_run_refuses_a_second_sole_run_and_every_worker(open_held: OpenHeld) -> None:
    async with open_held("sole"):
        for hold in (RunHold.SOLE, RunHold.SHARED):
            with pytest.raises(UserInputError, match=r"another blockpass run is using .*sole"):
                async with open_held("sole", hold):
                    pass


async def test_workers_share_a_run_and_keep_a_sole_run_out(open_held: OpenHeld) -> None:
    async with (
        open_held("shared", RunHold.SHARED) as first,
        open_held("shared", RunHold.SHARED) as second,
    ):
        await first.open_run(fingerprint=FINGERPRINT, settings={})
        await second.open_run(fingerprint=FINGERPRINT, settings={})
        with pytest.raises(UserInputError, match="another blockpass run"):
            async with open_held("shared"):
                pass
        async with open_held("shared", RunHold.NONE) as reader:
            assert await reader.settings() == {}
    async with open_held("shared") as sole:
        await sole.open_run(fingerprint=FINGERPRINT, settings={})


async def test_holding_one_run_leaves_the_other_runs_free(open_held: OpenHeld) -> None:
    async with open_held("one"), open_held("two") as other:
        await other.open_run(fingerprint=FINGERPRINT, settings={})


async def test_a_run_is_free_again_the_moment_its_holder_closes(open_held: OpenHeld) -> None:
    # A server drops a closed connection's locks a little later; closing unlocks first.
    for hold in [RunHold.SOLE, RunHold.SHARED] * 5:
        async with open_held("again", hold):
            pass
        async with open_held("again"):
            pass


async def test_a_sole_postgresql_run_in_another_process_is_refused_in_one_line(
    dsn: str, postgres_server: PostgresServer
) -> None:
    source = textwrap.dedent(f"""
        import anyio
        from blockpass.errors import UserInputError
        from blockpass.store.locations import open_store_at
        async def run():
            async with open_store_at({dsn!r}, run="elsewhere"):
                pass
        try:
            anyio.run(run)
        except UserInputError as exc:
            raise SystemExit(f"blockpass: {{exc}}")
    """)
    async with open_store_at(dsn, run="elsewhere"):
        with anyio.fail_after(60):
            child = await anyio.run_process([sys.executable, "-c", source], check=False)
    assert child.returncode != 0
    where = f"postgresql://127.0.0.1:{postgres_server.port}/postgres"
    assert child.stderr.decode() == (
        f"blockpass: another blockpass run is using run elsewhere in {where}\n"
    )


async def test_a_killed_sole_postgresql_run_leaves_its_run_free(dsn: str, tmp_path: Path) -> None:
    source = textwrap.dedent(f"""
        import anyio, sys
        from blockpass.store.locations import open_store_at
        async def run():
            async with open_store_at({dsn!r}, run="killed"):
                print("held", flush=True)
                sys.stdin.read()
        anyio.run(run)
    """)
    async with await anyio.open_process([sys.executable, "-c", source]) as child:
        assert child.stdout is not None
        with anyio.fail_after(60):
            assert (await child.stdout.receive()).startswith(b"held")
        with pytest.raises(UserInputError, match="another blockpass run"):
            async with open_store_at(dsn, run="killed"):
                pass
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    # PostgreSQL drops the lock when it sees the connection gone: connect until it has.
    with anyio.fail_after(30):
        while True:
            try:
                async with open_store_at(dsn, run="killed") as store:
                    await store.open_run(fingerprint=FINGERPRINT, settings={})
                    break
            except UserInputError:
                continue
