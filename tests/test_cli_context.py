"""`--context` on the command line: retrieve and auto runs, their estimate, and bad values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from blockpass.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
JOB = [str(EXAMPLES / "sample.md"), "--guide", str(EXAMPLES / "guide.md")]
SANDBOX = ["--provider", "sandbox", "--model", "claude-sonnet-4-5"]

pytestmark = pytest.mark.slow


def run_cli(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "blockpass.cli", *command, "--out", str(tmp_path / "out")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_retrieve_run_from_the_command_line_reports_its_context(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cache = ["--cache-dir", str(tmp_path / "cache")]
    run = ["run", *JOB, *SANDBOX, "--context", "retrieve", "--k", "2", *cache]
    assert main([*run, "--out", str(out), "--plain"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["context"]["mode"] == "retrieve"
    assert report["context"]["retrieval"]["blocks"] > 0
    # The index was built once, in the cache folder given, its query vectors beside it.
    kept = sorted(path.name.split("-")[0] for path in (tmp_path / "cache").iterdir())
    assert kept == ["queries", "rules"]


def test_estimate_prices_the_whole_guide_and_retrieved_rules_side_by_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["estimate", *JOB, *SANDBOX, "--context", "auto", *cache, "--plain"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("context: whole guide $")
    assert "retrieved rules $" in line


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--context", "retrieve", "--k", "0"], "argument --k: must be at least 1: '0'"),
        (["--context", "sometimes"], "argument --context: invalid choice: 'sometimes'"),
        (["--context", "retrieve", "--core", "no/such#section"], "--core names no section"),
    ],
)
def test_bad_context_options_are_refused_in_one_line(
    arguments: list[str], message: str, tmp_path: Path
) -> None:
    command = ["run", *JOB, *SANDBOX, "--cache-dir", str(tmp_path / "cache"), *arguments]
    result = run_cli(command, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_retrieve_without_a_guide_says_what_is_missing(tmp_path: Path) -> None:
    styles = ["--styles", str(EXAMPLES / "rules" / "Example")]
    command = ["run", str(EXAMPLES / "sample.md"), *styles, *SANDBOX, "--context", "retrieve"]
    result = run_cli(command, tmp_path)
    assert result.returncode != 0
    assert "--context retrieve retrieves from a guide: give --guide" in result.stderr
    assert "Traceback" not in result.stderr
