"""A whole job on a PostgreSQL store, composed with the library as a worker would be: the
same outputs as on a run directory's store, and a second run that sends nothing again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from blockpass.pipeline import JobOutcome, JobSpec, Mode, run_job
from blockpass.prices import job_prices, load_prices
from blockpass.providers import RehearsalSettings, open_connection, parse_connection
from blockpass.sandbox import SandboxConfig
from blockpass.store import RunHold, RunStore, StoredBatch, open_store_at
from tests.postgres_server import PostgresServer
from tests.sandbox.support import StartSandbox
from tests.test_lanes import CHEAP, STRONG, two_lanes, write_documents

pytestmark = pytest.mark.anyio
CONNECTION = "sandbox:claude-sonnet-4-5"


async def run_on(spec: JobSpec, rules: Path, store: RunStore | None) -> JobOutcome:
    connection = parse_connection(CONNECTION)
    prices = job_prices(connection.profile.id, connection.profile.provider)
    rehearsal = RehearsalSettings(rules=rules, batch_seconds=0)
    async with open_connection(connection, rehearsal=rehearsal) as provider:
        return await run_job(spec, provider, prices, store=store)


@pytest.mark.parametrize("mode", [Mode.REALTIME, Mode.BATCH])
async def test_a_job_on_a_postgresql_store_writes_what_a_run_directory_writes_and_resumes(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path, mode: Mode
) -> None:
    book = tmp_path / "book"
    book.mkdir()
    for chapter in sorted((shared_data / "corpora" / "rust-book").glob("ch0*.md"))[:3]:
        shutil.copy(chapter, book / chapter.name)
    rules = shared_data / "styles" / "Google" / "Google"

    def spec(out: str) -> JobSpec:
        guide = shared_data / "guides" / "18f-content-guide"
        return JobSpec(inputs=[book], guide=guide, out_dir=tmp_path / out, mode=mode)

    embedded = await run_on(spec("sqlite"), rules, None)
    async with open_store_at(postgres_server.dsn(), run=f"rust-book-{mode}") as store:
        shared = await run_on(spec("postgresql"), rules, store)
    async with open_store_at(postgres_server.dsn(), run=f"rust-book-{mode}") as store:
        again = await run_on(spec("postgresql-again"), rules, store)
        calls = await store.calls()

    assert shared.report.calls == embedded.report.calls >= 1
    assert shared.outcomes == embedded.outcomes
    results = {
        out: (tmp_path / out / "results.jsonl").read_text()
        for out in ("sqlite", "postgresql", "postgresql-again")
    }
    assert results["postgresql"] == results["sqlite"]
    assert results["postgresql-again"] == results["sqlite"]
    # The second run found every result in the store: it sent and paid for nothing.
    assert len(calls) == shared.report.calls
    assert again.this_run.calls == 0
    if mode is Mode.BATCH:
        assert all(call.batch for call in calls)
        batches = await store_batches(postgres_server, f"rust-book-{mode}")
        assert batches
        assert all(batch.state == "collected" for batch in batches)


async def store_batches(server: PostgresServer, run: str) -> list[StoredBatch]:
    async with open_store_at(server.dsn(), run=run, hold=RunHold.NONE) as store:
        return await store.batches()


async def test_a_job_of_two_lanes_on_a_postgresql_store_matches_the_run_directorys(
    start_sandbox: StartSandbox, postgres_server: PostgresServer, tmp_path: Path, shared_data: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    inputs = write_documents(tmp_path / "docs")

    def spec(out: str) -> JobSpec:
        guide = shared_data / "guides" / "18f-content-guide"
        return JobSpec(inputs=inputs, guide=guide, out_dir=tmp_path / out)

    async with two_lanes(running.server.base_url) as lanes:
        embedded = await run_job(spec("sqlite"), lanes, load_prices())
        async with open_store_at(postgres_server.dsn(), run="two-lanes") as store:
            shared = await run_job(spec("postgresql"), lanes, load_prices(), store=store)
            again = await run_job(spec("postgresql"), lanes, load_prices(), store=store)
            models = {call.model for call in await store.calls()}

    assert (tmp_path / "postgresql" / "results.jsonl").read_text() == (
        tmp_path / "sqlite" / "results.jsonl"
    ).read_text()
    assert shared.this_run.calls == embedded.this_run.calls
    assert models == {STRONG, CHEAP}
    assert again.this_run.calls == 0
