"""`blockpass worker` processes for the distributed tests: started against a store and a
served sandbox, finished, or killed while the sandbox holds one of their requests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.test_cli_interruptions import WAIT_SECONDS, HoldAfter, wait_for

# Short, so that a killed worker's pack is retried within a test's time.
STALLED_AFTER = "2"


def start_worker(dsn: str, base_url: str, name: str, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "blockpass.cli", "worker", "--store", dsn,
        "--base-url", base_url, "--stalled-after", STALLED_AFTER, "--name", name,
        "--verbose", *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def finish(worker: subprocess.Popen[str]) -> str:
    out, err = worker.communicate(timeout=WAIT_SECONDS)
    assert worker.returncode == 0, err
    return out


def kill_worker_at_request(
    dsn: str, base_url: str, hold: HoldAfter, request: int, what: str
) -> None:
    """Starts a worker that sends one pack at a time and kills it with SIGKILL, so it tidies
    nothing up, once its `request`th message request reached `hold`: hold that request, and
    the worker dies with the request sent and its answer never received."""
    doomed = start_worker(dsn, base_url, "doomed", "--concurrency", "1")
    try:
        wait_for(hold.changed, lambda: hold.arrived == request, what)
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=WAIT_SECONDS)
