"""`blockpass run --store postgresql://...`: the single-process run with its store in a real
PostgreSQL server: the same outputs as a run directory's, and a run killed with calls in
flight resumes without paying again for what was answered."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import anyio
import pytest

from blockpass.cli import main
from blockpass.sandbox import DEFAULT_API_KEY, Sandbox, SandboxConfig, create_app, serve_in_thread
from tests.postgres_server import PostgresServer
from tests.test_cli import chapters
from tests.test_cli_interruptions import ANSWERED, CONCURRENCY, HoldAfter, interrupt_in_flight
from tests.workers.test_distributed_runs import read_run, sent_blocks


@pytest.mark.slow
def test_a_run_killed_on_a_postgresql_store_resumes_unpaid_and_writes_what_its_directory_run_writes(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dsn = postgres_server.new_database()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    hold = HoldAfter(create_app(sandbox), answered=ANSWERED, held=CONCURRENCY)
    with serve_in_thread(hold) as server:  # type: ignore[arg-type]
        options = [
            "run", str(chapters(shared_data, 2, tmp_path)),
            "--guide", str(shared_data / "guides" / "18f-content-guide"),
            "--provider", "anthropic", "--base-url", server.base_url, "--model",
            "claude-sonnet-4-5", "--mode", "realtime", "--concurrency", str(CONCURRENCY),
            "--min-blocks", "1", "--max-blocks", "6",
        ]  # fmt: skip
        on_postgres = [*options, "--store", dsn, "--run", "book", "--out", str(tmp_path / "pg")]
        environment = {**os.environ, "ANTHROPIC_API_KEY": DEFAULT_API_KEY}
        try:
            command = [sys.executable, "-m", "blockpass.cli", *on_postgres, "--verbose"]
            interrupt_in_flight(hold, command, environment, signal.SIGKILL)
            calls, _, _, _ = anyio.run(read_run, dsn, "book")
            assert len(calls) == ANSWERED, "every answered call is in the store, and only those"
            os.environ["ANTHROPIC_API_KEY"] = DEFAULT_API_KEY
            assert main(on_postgres) == 0
            requests = sandbox.stats.requests["POST /v1/messages"]
            assert main([*options, "--out", str(tmp_path / "dir")]) == 0
        finally:
            hold.release.set()
            os.environ.pop("ANTHROPIC_API_KEY", None)

    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, "book")
    assert ended == blocks
    assert len(open_starts) == CONCURRENCY, "the killed run's calls in flight stay known"
    assert requests == len(calls) + CONCURRENCY, "the store accounts for every request"
    assert set(sent_blocks(calls).values()) == {1}, "no answered block was paid for again"
    report = json.loads((tmp_path / "pg" / "report.json").read_text())
    assert report["interrupted_calls"] == CONCURRENCY
    written = (tmp_path / "pg" / "results.jsonl").read_text()
    assert written == (tmp_path / "dir" / "results.jsonl").read_text()
    assert not (tmp_path / "pg" / "run.sqlite").exists(), "the store is PostgreSQL's alone"


@pytest.mark.parametrize(
    ("store", "message"),
    [
        (["--store", "sqlite:///run.db"], "--store: not a PostgreSQL URL"),
        (["--store", "postgresql://127.0.0.1:1/blockpass"], "cannot reach the run store"),
        (["--store", "postgresql://127.0.0.1:1/blockpass", "--run", "No Spaces"], "run name"),
        (["--run", "book"], "--run names a run in a PostgreSQL store: give --store"),
    ],
    ids=["not-postgresql", "unreachable", "bad-run-name", "run-without-store"],
)
def test_a_run_told_of_a_store_it_cannot_use_says_so_in_one_line(
    store: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    document = tmp_path / "doc.md"
    document.write_text("# Title\n\nA paragraph that is utilized here.\n")
    arguments = ["run", str(document), "--provider", "sandbox", "--model", "claude-sonnet-4-5"]
    code = main([*arguments, *store, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists(), "nothing was written"
