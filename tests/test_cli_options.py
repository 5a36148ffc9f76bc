"""Option values the CLI refuses in one line, and what a run says it did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from blockpass.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
JOB = [str(EXAMPLES / "sample.md"), "--guide", str(EXAMPLES / "guide.md")]
RUN = ["run", *JOB, "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--mode", "realtime"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["sandbox", "--port", "99999"], "argument --port: a port is from 1 to 65535: '99999'"),
        (["sandbox", "--port", "0"], "argument --port: a port is from 1 to 65535: '0'"),
        (["webhooks", "--out", "x", "--port", "-1"], "argument --port: a port is from 1 to 65535"),
        (["sandbox", "--latency", "-1"], "argument --latency: seconds must be zero or more: '-1'"),
        (["sandbox", "--token-latency", "nan"], "argument --token-latency: seconds must be"),
        ([*RUN, "--sandbox-latency", "-0.5"], "argument --sandbox-latency: seconds must be zero"),
        ([*RUN, "--threads", "0"], "argument --threads: must be at least 1: '0'"),
        ([*RUN, "--threads", "two"], "argument --threads: not a whole number: 'two'"),
    ],
)
def test_an_out_of_range_port_or_a_negative_latency_is_refused_in_one_line(
    arguments: list[str], message: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "blockpass.cli", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"blockpass: error: {message}")
    assert result.stdout == ""


def test_a_rerun_says_it_sent_nothing_and_that_the_report_covers_earlier_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "out")]
    assert main([*RUN, *out]) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[0] == "this run sent 1 call"
    assert main([*RUN, *out]) == 0
    again = capsys.readouterr().out.splitlines()
    assert again[0].startswith("this run sent 0 calls: all ")
    assert again[0].endswith(
        " blocks were already done; the report below also covers the 1 call of earlier runs "
        "in this directory"
    )
