"""Two batch runs on one provider account, one killed between creating a batch and storing
its id: neither cancels, collects or counts the other's batches, and nothing is paid twice.

Both runs work on the same documents, so their packs (and pack ids) are the same: only what
each run stored before submitting can tell their batches apart. The kill is deterministic:
the sandbox kills the run from inside the create call, after the batch exists and before
the answer leaves.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from blockpass.sandbox import (
    DEFAULT_API_KEY,
    ManualClock,
    Sandbox,
    SandboxConfig,
    create_app,
    serve_in_thread,
)
from blockpass.store import BatchState, CallRecord, StoredBatch, open_sqlite_store
from tests.test_cli import chapters

pytestmark = pytest.mark.slow

BATCH_TIME = 120.0
WAIT = 120.0


@dataclass
class Run:
    """A `blockpass run --verbose` child; its "batch ..." lines arrive on ``submitted``, and
    None when its stderr closes."""

    process: subprocess.Popen[str]
    submitted: queue.Queue[str | None] = field(default_factory=queue.Queue)
    stderr: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._watch, daemon=True).start()

    def _watch(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)
            if line.startswith("batch "):
                self.submitted.put(line)
        self.submitted.put(None)

    def next_batch(self) -> str | None:
        return self.submitted.get(timeout=WAIT)

    def finish(self, clock: ManualClock) -> None:
        """Let every batch it submits end, until it exits; it must exit cleanly."""
        while self.next_batch() is not None:
            clock.advance(BATCH_TIME)
        assert self.process.wait(timeout=WAIT) == 0, "".join(self.stderr)


class KillInCreate:
    """Kills the run that creates the next batch from inside the create call: the batch
    exists at the provider, and the run never hears its id."""

    def __init__(self, vendor_batches: Any) -> None:
        self._count = vendor_batches.on_created
        vendor_batches.on_created = self._on_created
        self._armed = threading.Event()
        self._victims: queue.Queue[subprocess.Popen[str]] = queue.Queue()

    def arm(self) -> None:
        """Before the victim starts, so that it cannot create a batch first."""
        self._armed.set()

    def victim(self, run: Run) -> None:
        self._victims.put(run.process)
        assert run.process.wait(timeout=WAIT) == -signal.SIGKILL

    def _on_created(self, batch: Any) -> None:
        self._count(batch)
        if self._armed.is_set():
            self._armed.clear()
            victim = self._victims.get(timeout=WAIT)
            victim.kill()
            victim.wait(timeout=WAIT)


@dataclass
class Job:
    """`blockpass run` in batch mode on two rust-book chapters, against a served sandbox."""

    book: Path
    guide: Path
    provider: str
    model: str
    base_url: str

    def start(self, out: Path, *options: str) -> Run:
        command = [
            sys.executable, "-m", "blockpass.cli", "run", str(self.book),
            "--guide", str(self.guide), "--provider", self.provider, "--base-url", self.base_url,
            "--model", self.model, "--mode", "batch", "--batch-max-blocks", "20",
            "--poll-interval", "0.05", "--poll-max", "0.2", "--out", str(out), "--verbose",
            *options,
        ]  # fmt: skip
        environment = {**os.environ, f"{self.provider.upper()}_API_KEY": DEFAULT_API_KEY}
        process = subprocess.Popen(
            command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment
        )
        return Run(process)


def served_job(
    stack: ExitStack, shared_data: Path, tmp_path: Path, provider: str, model: str
) -> tuple[Job, Sandbox, ManualClock]:
    clock = ManualClock(start=time.time())
    sandbox = Sandbox(
        SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"), clock=clock
    )
    server = stack.enter_context(serve_in_thread(create_app(sandbox)))
    job = Job(
        book=chapters(shared_data, 2, tmp_path),
        guide=shared_data / "guides" / "18f-content-guide",
        provider=provider,
        model=model,
        # The OpenAI SDK's base URL includes the API version; Anthropic's does not.
        base_url=server.base_url + ("/v1" if provider == "openai" else ""),
    )
    return job, sandbox, clock


def vendor_batches(sandbox: Sandbox, provider: str) -> Any:
    return sandbox.batches if provider == "anthropic" else sandbox.openai.batches


def listing(sandbox: Sandbox, provider: str) -> dict[str, int]:
    """Every batch at the provider, with its number of requests."""
    if provider == "anthropic":
        page = sandbox.batches.listing(limit=100, after_id=None, before_id=None)
    else:
        page = sandbox.openai.batches.listing(limit=100, after=None)
    return {batch.id: len(batch.items) for batch in page}


def cancel_requests(sandbox: Sandbox) -> list[str]:
    return [key for key in sandbox.stats.requests if key.endswith("/cancel")]


async def read_run(out: Path) -> tuple[list[StoredBatch], list[CallRecord]]:
    store = await open_sqlite_store(out)
    try:
        return await store.batches(), await store.calls()
    finally:
        await store.close()


def outcomes(out: Path) -> list[str]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return [json.loads(line)["outcome"] for line in lines]


@pytest.mark.parametrize(
    ("provider", "model"), [("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-5-mini")]
)
def test_a_run_killed_before_storing_its_batch_id_never_touches_another_runs_batch(
    shared_data: Path, tmp_path: Path, provider: str, model: str
) -> None:
    with ExitStack() as stack:
        job, sandbox, clock = served_job(stack, shared_data, tmp_path, provider, model)
        killer = KillInCreate(vendor_batches(sandbox, provider))
        other = job.start(tmp_path / "other")
        assert other.next_batch() is not None  # its primer, one pack, still running
        killer.arm()
        # Killed in the create call of its primer: one pack, as the other run's.
        killer.victim(job.start(tmp_path / "ours"))
        assert sorted(listing(sandbox, provider).values()) == [1, 1]
        clock.advance(BATCH_TIME)
        other.finish(clock)
        job.start(tmp_path / "ours").finish(clock)
        listed = listing(sandbox, provider)

    assert cancel_requests(sandbox) == []
    runs = {name: anyio.run(read_run, tmp_path / name) for name in ("ours", "other")}
    owned = {name: {batch.remote_id for batch in batches} for name, (batches, _) in runs.items()}
    assert not owned["ours"] & owned["other"], "no batch is collected by both runs"
    assert owned["ours"] | owned["other"] == listed.keys(), "every batch has its owner"
    assert len(owned["ours"]) == len(owned["other"]) == 2  # a primer and the rest, each
    for name, (batches, calls) in runs.items():
        assert {batch.state for batch in batches} == {BatchState.COLLECTED}
        assert {call.status for call in calls} == {"ok"}
        sent = Counter(block_id for call in calls for block_id in call.block_ids)
        assert set(sent.values()) == {1}, f"{name}: a block was paid for twice"
        # Counted: the report prices exactly the requests of the run's own batches.
        report = json.loads((tmp_path / name / "report.json").read_text())
        assert report["batch_calls"] == len(calls) == sum(listed[id] for id in owned[name])
        assert "possibly_ours" not in report
        assert "pending" not in outcomes(tmp_path / name)
    totals = sandbox.stats.batches[provider]
    assert totals["created"] == len(listed) == 4
    assert totals["items"] == sum(listed.values())


def test_a_batch_that_may_be_the_runs_own_is_left_alone_and_reported_when_it_cannot_wait(
    shared_data: Path, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        job, sandbox, _ = served_job(stack, shared_data, tmp_path, "anthropic", "claude-sonnet-4-5")
        killer = KillInCreate(sandbox.batches)
        killer.arm()
        killer.victim(job.start(tmp_path / "out"))
        (remote,) = listing(sandbox, "anthropic")
        # The clock stands still: its batch is running, and its results cannot be read yet.
        realtime = job.start(tmp_path / "out", "--mode", "realtime")
        assert realtime.next_batch() is None
        assert realtime.process.wait(timeout=WAIT) == 0, "".join(realtime.stderr)

    assert cancel_requests(sandbox) == []
    assert listing(sandbox, "anthropic") == {remote: 1}
    assert not [key for key in sandbox.stats.requests if key.endswith(f"{remote}/results")]
    (warning,) = [line for line in realtime.stderr if line.startswith("blockpass: possibly ours")]
    assert f"not touched: {remote} " in warning
    assert "paid for twice" in warning
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["possibly_ours"] == [warning.removeprefix("blockpass: ").strip()]
    assert report["batch_calls"] == 0
    assert set(outcomes(tmp_path / "out")) <= {"result", "skipped"}
