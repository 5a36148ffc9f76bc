"""`submit`, `worker`, `status` and `report` on bad input and before any worker ran: one line,
exit 2, nothing half done. Whole distributed runs are in `tests/workers/`."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from blockpass.cli import main
from tests.postgres_server import PostgresServer
from tests.test_cli import chapters


def job(shared_data: Path, tmp_path: Path) -> list[str]:
    return [
        str(chapters(shared_data, 1, tmp_path)),
        "--guide", str(shared_data / "guides" / "18f-content-guide"),
        "--provider", "sandbox", "--model", "claude-sonnet-4-5",
    ]  # fmt: skip


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("blockpass: error: ")
    return err


def test_submit_needs_a_postgresql_store(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["submit", *job(shared_data, tmp_path), "--store", str(tmp_path / "run")])
    assert code == 2
    assert "not a PostgreSQL URL" in error_line(capsys)


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--mode", "batch"], "submit routes tiers in realtime with the whole guide"),
        (["--context", "retrieve"], "leave --mode batch and --context retrieve|auto out"),
    ],
)
def test_submit_refuses_routed_tiers_workers_do_not_run_before_reading_anything(
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    options: list[str],
    said: str,
) -> None:
    store = "postgresql://nobody@127.0.0.1:1/none"
    book = job(shared_data, tmp_path)
    tiers = ["--tiers", "claude-haiku-4-5,claude-sonnet-4-5", "--route", "heuristic"]
    assert main(["submit", *book, "--store", store, *tiers, *options]) == 2
    assert said in error_line(capsys)


@pytest.mark.parametrize(
    ("tiers", "said"),
    [
        (["--tiers", "claude-haiku-4-5,gpt-9", "--route", "heuristic"], "unknown model 'gpt-9'"),
        (["--tiers", "claude-sonnet-4-5", "--route", "heuristic"], "two tiers or more"),
        (["--route", "classify"], "--route classify needs --tiers"),
        (["--tiers", "claude-haiku-4-5,claude-sonnet-4-5"], "give --route heuristic too"),
        (
            ["--tiers", "claude-haiku-4-5,claude-sonnet-4-5", "--route", "heuristic",
             "--classifier", "claude-haiku-5-5"],
            "give --route classify too",
        ),
    ],
)  # fmt: skip
def test_submit_with_tiers_it_cannot_route_says_so_in_one_line_before_touching_the_store(
    shared_data: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tiers: list[str],
    said: str,
) -> None:
    store = "postgresql://nobody@127.0.0.1:1/none"
    assert main(["submit", *job(shared_data, tmp_path), "--store", store, *tiers]) == 2
    assert said in error_line(capsys)


def test_submit_in_retrieve_mode_checks_the_guide_and_core_before_touching_the_store(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", "postgresql://nobody@127.0.0.1:1/none"]
    book = [str(chapters(shared_data, 1, tmp_path)), "--provider", "sandbox"]
    styles = ["--styles", str(shared_data / "styles" / "Google")]
    assert main(["submit", *book, *styles, *store, "--context", "retrieve"]) == 2
    assert "give --guide" in error_line(capsys)
    guide = ["--guide", str(shared_data / "guides" / "18f-content-guide")]
    core = ["--core", "no/such#section", "--cache-dir", str(tmp_path / "cache")]
    assert main(["submit", *book, *guide, *store, "--context", "auto", *core]) == 2
    assert "--core names no section" in error_line(capsys)


def test_submit_refuses_batch_mode_for_a_model_without_a_batch_api_before_reading_anything(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = [str(chapters(shared_data, 1, tmp_path)), "--provider", "local", "--mode", "batch"]
    assert main(["submit", *book, "--store", "postgresql://nobody@127.0.0.1:1/none"]) == 2
    assert "has no batch API" in error_line(capsys)


def test_a_worker_on_an_unreachable_store_says_so_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["worker", "--store", "postgresql://nobody@127.0.0.1:1/none"]) == 2
    assert "cannot reach the run store" in error_line(capsys)


def test_status_and_report_of_a_run_nobody_submitted_are_refused(
    postgres_server: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", postgres_server.new_database(), "--run", f"never-{uuid.uuid4().hex[:8]}"]
    assert main(["status", *store]) == 2
    assert "was submitted" in error_line(capsys)
    assert main(["report", *store, "--out", str(tmp_path / "out")]) == 2
    assert "was submitted" in error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_a_submitted_run_shows_its_progress_and_refuses_a_report_until_it_ends(
    shared_data: Path,
    postgres_server: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = ["--store", postgres_server.new_database(), "--run", f"waiting-{uuid.uuid4().hex[:8]}"]
    assert main(["submit", *job(shared_data, tmp_path), *store]) == 0
    submitted = capsys.readouterr().out
    assert "jobs queued" in submitted
    assert main(["status", *store]) == 0
    status = capsys.readouterr().out
    assert "blocks ended" in status
    assert "waiting or running" in status
    assert "cost so far: $0.0000" in status
    assert main(["report", *store, "--out", str(tmp_path / "out")]) == 2
    assert "waiting or running" in error_line(capsys)
    assert not (tmp_path / "out").exists()
