"""PostgreSQL only: runs as schemas of one database, a connection dying mid-transaction,
and what the user is told when the database cannot be used."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import anyio
import psycopg
import pytest
from psycopg import sql

from blockpass.errors import UserInputError
from blockpass.store.postgres import open_postgres_store
from blockpass.store.postgres_schema import SCHEMA_PREFIX
from tests.postgres_server import PostgresServer
from tests.store.conftest import (
    FINGERPRINT,
    PostgresFactory,
    make_block,
    make_call,
    make_result,
    put_numbered_blocks,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def postgres(
    postgres_server: PostgresServer, anyio_backend: str
) -> AsyncIterator[PostgresFactory]:
    factory = PostgresFactory(postgres_server)
    yield factory
    await factory.close_all()


async def admin_connection(factory: PostgresFactory, run: str) -> psycopg.AsyncConnection:
    connection = await psycopg.AsyncConnection.connect(factory.dsn, autocommit=True)
    schema = sql.Identifier(SCHEMA_PREFIX + factory.run(run))
    await connection.execute(sql.SQL("SET search_path TO {}").format(schema))
    return connection


async def test_a_call_whose_connection_dies_before_commit_stores_neither_the_call_nor_its_results(
    postgres: PostgresFactory,
) -> None:
    store = await postgres.open()
    await store.open_run(fingerprint=FINGERPRINT, settings={})
    blocks = await put_numbered_blocks(store, 2)
    admin = await admin_connection(postgres, "run")
    # The results table locked, record_call stores its call and then waits on the lock:
    # killed there, its backend dies between the call and its results.
    async with admin.transaction():
        await admin.execute("LOCK TABLE results IN ACCESS EXCLUSIVE MODE")
        failure: list[BaseException] = []

        async def record() -> None:
            ids = tuple(block.id for block in blocks)
            try:
                await store.record_call(make_call(ids), [make_result(b) for b in blocks])
            except UserInputError as exc:
                failure.append(exc)

        async with anyio.create_task_group() as group:
            group.start_soon(record)
            waiting = None
            with anyio.fail_after(30):
                while waiting is None:
                    found = await admin.execute(
                        "SELECT pid FROM pg_locks WHERE NOT granted"
                        " AND relation = 'results'::regclass"
                    )
                    waiting = await found.fetchone()
            await admin.execute("SELECT pg_terminate_backend(%s)", (waiting[0],))

    assert len(failure) == 1
    assert "cannot use the run store" in str(failure[0])
    assert "\n" not in str(failure[0])
    assert await store.calls() == []
    assert await store.results() == {}
    # The pool replaced the dead connection: the store goes on.
    await store.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])
    assert len(await store.calls()) == 1
    await admin.close()


async def test_runs_in_one_database_share_nothing(postgres: PostgresFactory) -> None:
    first = await postgres.open("first")
    second = await postgres.open("second")
    await first.open_run(fingerprint=FINGERPRINT, settings={"n": "1"})
    await second.open_run(fingerprint="another-task", settings={"n": "2"})
    blocks = await put_numbered_blocks(first, 3)
    await first.record_call(make_call((blocks[0].id,)), [make_result(blocks[0])])

    assert await second.blocks() == []
    assert await second.calls() == []
    assert await second.lookup_previous_results([blocks[0].content_hash], FINGERPRINT) == {}
    assert (await first.settings(), await second.settings()) == ({"n": "1"}, {"n": "2"})


async def test_a_run_name_that_is_not_a_plain_name_is_a_user_error(
    postgres_server: PostgresServer,
) -> None:
    for name in ("", "Upper", "has space", "semi;colon", '"quoted"', "x" * 51, "-leading"):
        with pytest.raises(UserInputError, match="is not a run name"):
            await open_postgres_store(postgres_server.dsn(), run=name)


async def test_an_unreachable_server_is_one_line_without_the_password(
    postgres_server: PostgresServer,
) -> None:
    closed_port = postgres_server.port + 1 if postgres_server.port < 65535 else 1
    dsn = f"postgresql://someone:s3cret-pw@127.0.0.1:{closed_port}/nowhere"

    with pytest.raises(UserInputError, match="cannot reach the run store") as info:
        await open_postgres_store(dsn, run="r")

    message = str(info.value)
    assert "\n" not in message
    assert "s3cret-pw" not in message
    assert f"127.0.0.1:{closed_port}/nowhere" in message


async def test_a_database_that_does_not_exist_is_a_user_error(
    postgres_server: PostgresServer,
) -> None:
    with pytest.raises(UserInputError, match="cannot reach the run store"):
        await open_postgres_store(postgres_server.dsn("no_such_database"), run="r")


async def test_a_malformed_connection_string_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match="not a PostgreSQL connection string"):
        await open_postgres_store("postgresql://host:notaport:x/db?bogus_option=1", run="r")


async def test_a_run_written_by_a_newer_blockpass_is_refused(postgres: PostgresFactory) -> None:
    await (await postgres.open()).close()
    admin = await admin_connection(postgres, "run")
    await admin.execute("UPDATE store_version SET version = 99")
    await admin.close()

    with pytest.raises(UserInputError, match="newer blockpass"):
        await postgres.open()


async def test_many_stores_opening_new_runs_at_once_all_get_their_tables(
    postgres: PostgresFactory,
) -> None:
    names = [f"parallel-{number}" for number in range(6)] * 2

    async def open_one(name: str) -> None:
        store = await postgres.open(name)
        await store.open_run(fingerprint=FINGERPRINT, settings={})
        await put_numbered_blocks(store, 1)

    async with anyio.create_task_group() as group:
        for name in names:
            group.start_soon(open_one, name)

    for name in set(names):
        assert len(await (await postgres.open(name)).blocks()) == 1


def test_importing_the_cli_and_the_store_leaves_psycopg_unloaded() -> None:
    probe = (
        "import sys, blockpass.cli, blockpass.store, blockpass.store.locations\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0].startswith('psycopg')))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert loaded.stdout.strip() == "[]"


async def test_a_block_with_a_nul_character_is_refused_in_one_line_naming_it(
    postgres: PostgresFactory,
) -> None:
    store = await postgres.open()
    await store.open_run(fingerprint=FINGERPRINT, settings={})
    clean = make_block("doc.jsonl", 0, "Fine.")
    hostile = make_block("doc.jsonl", 1, "Before\x00after.")

    with pytest.raises(UserInputError, match=r"doc.jsonl: block 1 contains a NUL") as info:
        await store.put_blocks([clean, hostile])

    assert "\n" not in str(info.value)
    assert await store.blocks() == []


async def test_a_call_error_with_a_nul_character_is_a_user_error_and_stores_nothing(
    postgres: PostgresFactory,
) -> None:
    store = await postgres.open()
    await store.open_run(fingerprint=FINGERPRINT, settings={})
    blocks = await put_numbered_blocks(store, 1)

    with pytest.raises(UserInputError, match="NUL"):
        await store.record_call(
            make_call((blocks[0].id,), error="bad\x00byte"), [make_result(blocks[0])]
        )

    assert await store.calls() == []
    assert await store.results() == {}


async def test_a_role_without_the_right_to_create_the_run_is_told_in_one_line(
    postgres_server: PostgresServer,
) -> None:
    admin = await psycopg.AsyncConnection.connect(postgres_server.dsn(), autocommit=True)
    await admin.execute("DROP ROLE IF EXISTS reader_only")
    await admin.execute("CREATE ROLE reader_only LOGIN")
    await admin.execute("REVOKE CREATE ON DATABASE postgres FROM PUBLIC")
    await admin.close()
    dsn = f"postgresql://reader_only@127.0.0.1:{postgres_server.port}/postgres"

    with pytest.raises(
        UserInputError, match=r"cannot use the run store.*permission denied"
    ) as info:
        await open_postgres_store(dsn, run="not-allowed")

    assert "\n" not in str(info.value)
