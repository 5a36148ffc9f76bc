"""A routed job submitted to PostgreSQL and sent by two `blockpass worker` processes to a
served sandbox whose cheaper model misses findings (the quality model's ASSUMED rates, so
the weak tier's unsure answers escalate): its results, routing and costs are a routed `run`'s
on the same input, sent to a sandbox of its own."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import anyio
import pytest

from blockpass.cli import main
from blockpass.sandbox import Sandbox, SandboxConfig, create_app, serve_in_thread
from blockpass.sandbox.quality import QualityModel
from blockpass.store import CallRecord
from tests.postgres_server import PostgresServer
from tests.test_cli import chapters
from tests.workers.test_distributed_runs import read_run
from tests.workers.worker_processes import finish, start_worker

pytestmark = pytest.mark.slow

CHAPTER = Path("corpora") / "rust-book" / "ch03-01-variables-and-mutability.md"
TIERS = ["--tiers", "claude-haiku-4-5,claude-sonnet-4-5"]


def sandbox(shared_data: Path) -> Sandbox:
    return Sandbox(
        SandboxConfig(
            rules=shared_data / "styles" / "Google" / "Google", quality=QualityModel.assumed()
        )
    )


def answered_by_lane(calls: list[CallRecord]) -> Counter[tuple[str, str]]:
    return Counter(
        (call.model, block) for call in calls if call.status == "ok" for block in call.block_ids
    )


def each_block_answered_once_by_one_tier(dsn: str, run: str) -> list[CallRecord]:
    """The run's calls, after checking that every block ended, no call was left open and no
    tier answered a block twice."""
    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, run)
    assert ended == blocks
    assert not open_starts
    assert set(answered_by_lane(calls).values()) == {1}, "no tier answered a block twice"
    return calls


def submit_work_report(
    dsn: str, run: str, options: list[str], base_url: str, out: Path, *submit_extra: str
) -> None:
    assert main(["submit", *options, "--store", dsn, "--run", run, *submit_extra]) == 0
    workers = [
        # No worker dies here: a longer stalled timeout keeps a late heartbeat on a loaded
        # machine from having a live worker's job retried beside it.
        start_worker(dsn, base_url, f"w{n}", "--exit-when-done", "--stalled-after", "10")
        for n in (1, 2)
    ]
    for worker in workers:
        finish(worker)
    assert main(["report", "--store", dsn, "--run", run, "--out", str(out)]) == 0


def test_a_routed_job_sent_by_two_workers_writes_runs_results_routing_and_costs(
    shared_data: Path,
    postgres_server: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = postgres_server.new_database()
    # One pack per tier, whatever the models' measured bounds: each tier's prefix is
    # written once in both runs, so their cache use and costs are comparable to the digit.
    options = [
        str(shared_data / CHAPTER), "--guide", str(shared_data / "guides" / "18f-content-guide"),
        "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--max-blocks", "40",
        *TIERS, "--route", "heuristic",
    ]  # fmt: skip
    distributed = sandbox(shared_data)
    with serve_in_thread(create_app(distributed)) as server:
        submit_work_report(dsn, "tiers", options, server.base_url, tmp_path / "w")
        requests = distributed.stats.requests["POST /v1/messages"]
        capsys.readouterr()
        assert main(["status", "--store", dsn, "--run", "tiers"]) == 0
        status = capsys.readouterr().out
    with serve_in_thread(create_app(sandbox(shared_data))) as server:
        single = ["run", *options, "--base-url", server.base_url, "--mode", "realtime"]
        assert main([*single, "--out", str(tmp_path / "single")]) == 0

    calls = each_block_answered_once_by_one_tier(dsn, "tiers")
    assert requests == len(calls), "the sandbox saw exactly the stored calls"
    routing = json.loads((tmp_path / "w" / "routing.json").read_text())
    assert routing["escalated"], "the weak tier's unsure answers went to the strongest"
    assert (tmp_path / "w" / "results.jsonl").read_bytes() == (
        tmp_path / "single" / "results.jsonl"
    ).read_bytes()
    assert (tmp_path / "w" / "routing.json").read_bytes() == (
        tmp_path / "single" / "routing.json"
    ).read_bytes()
    pooled = json.loads((tmp_path / "w" / "report.json").read_text())
    alone = json.loads((tmp_path / "single" / "report.json").read_text())
    pooled.pop("timing")
    alone.pop("timing")
    assert pooled == alone, "the same calls, tokens, costs and savings"
    assert "tier 0 claude-haiku-4-5:" in status
    assert "tier 1 claude-sonnet-4-5:" in status
    assert f"escalated to claude-sonnet-4-5: {len(routing['escalated']):,} blocks" in status


def test_a_classified_job_over_several_packs_per_tier_routes_and_escalates_as_run_does(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dsn = postgres_server.new_database()
    options = [
        str(chapters(shared_data, 2, tmp_path)),
        "--guide", str(shared_data / "guides" / "18f-content-guide"),
        "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--min-blocks", "1",
        "--max-blocks", "8", *TIERS, "--route", "classify", "--classifier", "claude-haiku-5-5",
    ]  # fmt: skip
    with serve_in_thread(create_app(sandbox(shared_data))) as server:
        submit_work_report(
            dsn, "classify", options, server.base_url, tmp_path / "w", "--base-url", server.base_url
        )
    with serve_in_thread(create_app(sandbox(shared_data))) as server:
        single = ["run", *options, "--base-url", server.base_url, "--mode", "realtime"]
        assert main([*single, "--out", str(tmp_path / "single")]) == 0

    each_block_answered_once_by_one_tier(dsn, "classify")
    assert (tmp_path / "w" / "results.jsonl").read_bytes() == (
        tmp_path / "single" / "results.jsonl"
    ).read_bytes()
    pooled = json.loads((tmp_path / "w" / "routing.json").read_text())
    alone = json.loads((tmp_path / "single" / "routing.json").read_text())
    assert pooled["classify"]["calls"] > 0, "the classify pass ran at submit"
    # Which block went where, and why, is run's; the cost of the tiers' cache writes depends
    # on which packs two workers happen to send at once, so costs are compared in the first
    # test, on one pack per tier.
    for key in ("escalated", "all_strong"):
        assert pooled[key] == alone[key], key
    assert {k: v for k, v in pooled["classify"].items() if k != "cost"} == {
        k: v for k, v in alone["classify"].items() if k != "cost"
    }
    for mine, theirs in zip(pooled["tiers"], alone["tiers"], strict=True):
        for key in ("model", "routed", "blocks", "calls"):
            assert mine[key] == theirs[key], key
