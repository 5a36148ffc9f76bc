"""Distributed runs end to end: `blockpass submit` on a real PostgreSQL server, `blockpass
worker` processes sending to a served sandbox over HTTP, `blockpass report` writing the
outputs; the sandbox's request counter is held against the store."""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from pathlib import Path

import anyio
import psycopg
import pytest

from blockpass.cli import main
from blockpass.sandbox import BatchSettings, Sandbox, SandboxConfig, create_app, serve_in_thread
from blockpass.store import CallRecord, CallStart, RunHold, StoredBatch, open_store_at
from tests.postgres_server import PostgresServer
from tests.test_cli import chapters
from tests.test_cli_interruptions import WAIT_SECONDS, HoldAfter, StoredCallLines, wait_for
from tests.workers.worker_processes import finish, kill_worker_at_request, start_worker

pytestmark = pytest.mark.slow

MODEL = "claude-sonnet-4-5"


def job_options(shared_data: Path, book: Path) -> list[str]:
    return [
        str(book), "--guide", str(shared_data / "guides" / "18f-content-guide"),
        "--provider", "sandbox", "--model", MODEL, "--min-blocks", "1", "--max-blocks", "6",
    ]  # fmt: skip


async def read_run(dsn: str, run: str) -> tuple[list[CallRecord], list[CallStart], int, int]:
    """Stored calls, open call starts, blocks and blocks with a result."""
    async with open_store_at(dsn, run=run, hold=RunHold.NONE) as store:
        return (
            await store.calls(),
            await store.call_starts(open_only=True),
            len(await store.blocks()),
            len(await store.results()),
        )


def sent_blocks(calls: list[CallRecord]) -> Counter[str]:
    return Counter(block for call in calls if call.status == "ok" for block in call.block_ids)


def test_a_submitted_job_sent_by_two_workers_started_later_writes_what_run_writes(
    shared_data: Path,
    postgres_server: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    book = chapters(shared_data, 3, tmp_path)
    dsn = postgres_server.new_database()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    with serve_in_thread(create_app(sandbox)) as server:
        options = job_options(shared_data, book)
        assert main(["submit", *options, "--store", dsn, "--run", "later"]) == 0
        refused = ["submit", *options, "--store", dsn, "--run", "later"]
        assert main(refused) == 2, "the run's packs are still waiting"
        workers = [start_worker(dsn, server.base_url, f"w{n}", "--exit-when-done") for n in (1, 2)]
        sent = [finish(worker) for worker in workers]
        requests = sandbox.stats.requests["POST /v1/messages"]
        assert main(["report", "--store", dsn, "--run", "later", "--out", str(tmp_path / "w")]) == 0
        capsys.readouterr()
        assert main(["submit", *options, "--store", dsn, "--run", "later"]) == 0
        assert "0 to send in 0 packs: 0 jobs queued" in capsys.readouterr().out, "all was done"
        single = ["run", *options, "--base-url", server.base_url, "--mode", "realtime"]
        assert main([*single, "--out", str(tmp_path / "single")]) == 0

    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, "later")
    assert all(line.startswith("blockpass worker w") for line in sent)
    assert ended == blocks, "every block ended"
    assert not open_starts, "no call was left without its answer"
    assert requests == len(calls), "the sandbox saw exactly the stored calls"
    assert set(sent_blocks(calls).values()) == {1}, "no block was sent twice"
    written = (tmp_path / "w" / "results.jsonl").read_text()
    assert written == (tmp_path / "single" / "results.jsonl").read_text()
    for revised in (tmp_path / "single" / "revised").rglob("*.md"):
        twin = tmp_path / "w" / "revised" / revised.relative_to(tmp_path / "single" / "revised")
        assert twin.read_bytes() == revised.read_bytes()
    report = json.loads((tmp_path / "w" / "report.json").read_text())
    assert report["calls"] == len(calls)
    assert (
        report["context"]
        == json.loads((tmp_path / "single" / "report.json").read_text())["context"]
    )


def test_a_worker_killed_mid_pack_leaves_it_to_another_and_no_block_is_paid_twice(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    book = chapters(shared_data, 2, tmp_path)
    dsn = postgres_server.new_database()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    # The first request is answered by the sandbox (and counted) but its answer never leaves.
    hold = HoldAfter(create_app(sandbox), answered=0, held=1)
    with serve_in_thread(hold) as server:  # type: ignore[arg-type]
        try:
            options = job_options(shared_data, book)
            assert main(["submit", *options, "--store", dsn, "--run", "killed"]) == 0
            kill_worker_at_request(dsn, server.base_url, hold, 1, "the first request")
            survivor = start_worker(dsn, server.base_url, "survivor", "--exit-when-done")
            assert "sent" in finish(survivor)
            requests = sandbox.stats.requests["POST /v1/messages"]
        finally:
            hold.release.set()

    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, "killed")
    assert ended == blocks, "every block ended, the killed worker's pack too"
    assert len(open_starts) == 1, "the call lost with the killed worker is known to be unknown"
    assert requests == len(calls) + len(open_starts), "the store accounts for every request"
    assert set(sent_blocks(calls).values()) == {1}, "no stored result was paid for twice"
    lost = set(open_starts[0].block_ids)
    assert lost <= set(sent_blocks(calls)), "the lost call's blocks were sent again, once"


async def count_jobs(dsn: str) -> Counter[str]:
    async with await psycopg.AsyncConnection.connect(dsn) as connection:
        cursor = await connection.execute("SELECT task_name, status::text FROM procrastinate_jobs")
        return Counter(f"{task} {status}" for task, status in await cursor.fetchall())


def batch_sandbox(shared_data: Path, *, processing_seconds: float) -> Sandbox:
    """A sandbox answering with the Google rules whose batches end after that many seconds."""
    rules = shared_data / "styles" / "Google" / "Google"
    return Sandbox(
        SandboxConfig(rules=rules, batches=BatchSettings(processing_seconds=processing_seconds))
    )


def test_a_batch_submitted_by_one_job_is_polled_by_a_job_that_queues_itself_and_collected_once(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    book = chapters(shared_data, 2, tmp_path)
    dsn = postgres_server.new_database()
    sandbox = batch_sandbox(shared_data, processing_seconds=2)
    with serve_in_thread(create_app(sandbox)) as server:
        options = job_options(shared_data, book)
        batch = ["--mode", "batch", "--poll-interval", "0.5", "--poll-max", "0.5", "--no-prime"]
        assert main(["submit", *options, *batch, "--store", dsn, "--run", "batch"]) == 0
        finish(start_worker(dsn, server.base_url, "batcher", "--exit-when-done"))
        requests = sandbox.stats.requests.get("POST /v1/messages", 0)
        created = sandbox.stats.batches["anthropic"]["created"]
        assert main(["report", "--store", dsn, "--run", "batch", "--out", str(tmp_path / "w")]) == 0
        single = ["run", *options, "--base-url", server.base_url, "--mode", "batch"]
        assert main([*single, "--poll-interval", "0.5", "--out", str(tmp_path / "single")]) == 0

    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, "batch")
    jobs = anyio.run(count_jobs, dsn)
    assert ended == blocks, "every block ended"
    assert created == 1, "one batch, submitted once"
    assert requests == 0, "nothing went in realtime"
    assert all(call.batch for call in calls)
    assert set(sent_blocks(calls).values()) == {1}, "every item was collected once"
    assert jobs["blockpass.submit_batch succeeded"] == 1
    assert jobs["blockpass.poll_batch succeeded"] >= 2, "the poll job queued itself again"
    assert not open_starts
    written = (tmp_path / "w" / "results.jsonl").read_text()
    assert written == (tmp_path / "single" / "results.jsonl").read_text()


async def read_batches(dsn: str, run: str) -> list[StoredBatch]:
    async with open_store_at(dsn, run=run, hold=RunHold.NONE) as store:
        return await store.batches()


def test_a_submitted_batch_run_primes_the_cache_with_one_pack_and_submits_the_rest_once_it_ended(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    book = chapters(shared_data, 2, tmp_path)
    dsn = postgres_server.new_database()
    sandbox = batch_sandbox(shared_data, processing_seconds=1)
    with serve_in_thread(create_app(sandbox)) as server:
        options = [
            *job_options(shared_data, book), "--mode", "batch", "--poll-interval", "0.2",
            "--poll-max", "0.5", "--batch-max-blocks", "6", "--max-batch-requests", "4",
        ]  # fmt: skip
        assert main(["submit", *options, "--store", dsn, "--run", "primed"]) == 0
        # No worker dies here: a longer stalled timeout keeps a heartbeat late on a loaded
        # machine from having a live worker's job retried beside it.
        patient = ["--exit-when-done", "--stalled-after", "10"]
        workers = [start_worker(dsn, server.base_url, f"b{n}", *patient) for n in (1, 2)]
        for worker in workers:
            finish(worker)
        created = sandbox.stats.batches["anthropic"]["created"]
        requests = sandbox.stats.requests.get("POST /v1/messages", 0)

    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, "primed")
    primer, *rest = sorted(anyio.run(read_batches, dsn, "primed"), key=lambda batch: batch.id)
    assert ended == blocks
    assert not open_starts
    assert requests == 0, "nothing went in realtime"
    assert primer.priming
    assert len(primer.items) == 1, "one pack primes the cache"
    assert len(rest) >= 2
    assert not any(batch.priming for batch in rest)
    assert primer.ended_at is not None
    assert all(batch.created_at >= primer.ended_at for batch in rest), "after the primer ended"
    assert created == 1 + len(rest), "every batch submitted once, though its job waited"
    assert set(sent_blocks(calls).values()) == {1}
    first = next(call for call in calls if call.block_ids == primer.items[0].block_ids)
    assert first.usage.cache_write_1h > 0
    assert all(call.usage.cache_read > 0 for call in calls if call is not first)


def packs_done(lines: StoredCallLines) -> int:
    return sum(line.rstrip().endswith(": done") for line in lines.lines)


def queued_packs(capsys: pytest.CaptureFixture[str]) -> int:
    return int(re.findall(r"in ([\d,]+) packs", capsys.readouterr().out)[-1].replace(",", ""))


def test_a_running_worker_takes_the_packs_of_documents_added_to_its_run_later(
    shared_data: Path,
    postgres_server: PostgresServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dsn = postgres_server.new_database()
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    with serve_in_thread(create_app(sandbox)) as server:
        worker = start_worker(dsn, server.base_url, "long-lived")
        try:
            lines = StoredCallLines(worker)  # a worker's --verbose lines, as they come
            first = job_options(shared_data, chapters(shared_data, 1, tmp_path / "one"))
            assert main(["submit", *first, "--store", dsn, "--run", "growing"]) == 0
            expected = queued_packs(capsys)
            wait_for(lines.changed, lambda: packs_done(lines) == expected, "the first packs")
            both = job_options(shared_data, chapters(shared_data, 2, tmp_path / "two"))
            assert main(["submit", *both, "--store", dsn, "--run", "growing"]) == 0
            expected += queued_packs(capsys)
            wait_for(lines.changed, lambda: packs_done(lines) == expected, "the later packs")
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(timeout=WAIT_SECONDS)
    _, open_starts, blocks, ended = anyio.run(read_run, dsn, "growing")
    assert ended == blocks
    assert not open_starts
