"""A provider that cannot be reached at all: one clear error within seconds, store resumable."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
# Far below the minutes a retried refused connection used to take; the test's own bound.
PROMPT_SECONDS = 30
TIMEOUT_SECONDS = 60


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: bound by us, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def blockpass(*arguments: str, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blockpass.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        env=environment,
        check=False,
    )


@pytest.mark.parametrize("mode", ["realtime", "batch"])
@pytest.mark.parametrize(
    ("provider", "model", "path"),
    [
        ("anthropic", "claude-sonnet-4-5", ""),
        ("openai", "gpt-5-mini", "/v1"),
    ],
)
def test_a_base_url_nothing_listens_on_is_one_clear_error_within_seconds_and_the_run_resumes(
    tmp_path: Path, provider: str, model: str, path: str, mode: str
) -> None:
    environment = {**os.environ, "ANTHROPIC_API_KEY": "sk-test", "OPENAI_API_KEY": "sk-test"}
    out = tmp_path / "out"
    job = [str(EXAMPLES / "sample.md"), "--guide", str(EXAMPLES / "guide.md"), "--out", str(out)]
    base_url = f"http://127.0.0.1:{closed_port()}{path}"
    started = time.monotonic()
    result = blockpass(
        "run", *job, "--provider", provider, "--model", model, "--mode", mode,
        "--base-url", base_url, environment=environment,
    )  # fmt: skip
    assert time.monotonic() - started < PROMPT_SECONDS
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"blockpass: error: cannot connect to {provider} at {base_url}")

    resumed = blockpass(
        "run", *job, "--provider", "sandbox", "--model", model, "--mode", "realtime",
        environment=environment,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    outcomes = [json.loads(line)["outcome"] for line in (out / "results.jsonl").open()]
    assert set(outcomes) <= {"result", "skipped"}
