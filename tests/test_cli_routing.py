"""`run` and `estimate` with --tiers and --route: the tier lines, and refused options."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from blockpass.cli import main
from blockpass.sandbox import DEFAULT_API_KEY, Sandbox, SandboxConfig, create_app, serve_in_thread
from tests.test_lanes import stored_calls

CHAPTER = "corpora/rust-book/ch03-01-variables-and-mutability.md"
TIERS = ["--tiers", "claude-haiku-4-5,claude-sonnet-4-5", "--route", "heuristic"]
CLASSIFY = ["--tiers", "claude-haiku-4-5,claude-sonnet-4-5", "--route", "classify"]


def job(shared_data: Path) -> list[str]:
    return [
        str(shared_data / CHAPTER),
        "--guide",
        str(shared_data / "guides" / "18f-content-guide"),
        "--provider",
        "sandbox",
        "--plain",
    ]


def test_a_routed_sandbox_run_prints_blocks_and_cost_per_tier_and_its_quality_warning(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = str(shared_data / "styles" / "Google" / "Google")
    out = tmp_path / "run"
    arguments = ["run", *job(shared_data), *TIERS, "--out", str(out), "--sandbox-rules", rules]

    assert main([*arguments, "--sandbox-quality"]) == 0

    printed = capsys.readouterr().out
    assert "tier 0 claude-haiku-4-5: " in printed
    assert "tier 1 claude-sonnet-4-5: " in printed
    assert "escalated to claude-sonnet-4-5: " in printed
    assert "against all-strong" in printed
    assert "quality model is on" in printed
    assert "ASSUMED" in printed
    report = json.loads((out / "routing.json").read_text())
    assert sum(tier["routed"] for tier in report["tiers"]) > 0


def test_a_classify_run_on_a_cheaper_classifier_prints_the_pass_and_its_cost(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = str(shared_data / "styles" / "Google" / "Google")
    tiers = [*CLASSIFY, "--classifier", "claude-haiku-5-5"]
    out = ["--out", str(tmp_path / "run"), "--sandbox-rules", rules]

    assert main(["run", *job(shared_data), *tiers, *out]) == 0

    printed = capsys.readouterr().out
    assert "classify pass on claude-haiku-5-5: 1 calls over " in printed
    assert "quality model is on" not in printed
    report = json.loads((tmp_path / "run" / "routing.json").read_text())
    assert report["classify"]["model"] == "claude-haiku-5-5"
    assert report["classify"]["asked"] > 0


def test_a_classify_run_on_the_weakest_tier_says_which_blocks_were_not_worth_asking(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = ["--out", str(tmp_path / "run")]

    assert main(["run", *job(shared_data), *CLASSIFY, *out]) == 0

    printed = capsys.readouterr().out
    assert "unsettled blocks not asked about (on claude-haiku-4-5 an answer could not" in printed
    assert "classify pass on" not in printed


def test_estimate_with_a_classifier_adds_the_classify_pass_row(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["estimate", *job(shared_data), *CLASSIFY, "--classifier", "claude-haiku-5-5"]) == 0

    printed = capsys.readouterr().out
    assert "classify pass on claude-haiku-5-5 (at most): " in printed
    assert "tier 0 claude-haiku-4-5:" in printed


def test_estimate_with_tiers_adds_the_routing_rows(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["estimate", *job(shared_data), *TIERS]) == 0

    printed = capsys.readouterr().out
    assert "routing (tiers as the heuristic places them" in printed
    for label in ("tier 0 claude-haiku-4-5:", "tier 1 claude-sonnet-4-5:", "routed:"):
        assert label in printed
    assert "all-strong claude-sonnet-4-5:" in printed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--route", "heuristic"], "--route heuristic needs --tiers"),
        (["--tiers", "claude-haiku-4-5,claude-sonnet-4-5"], "give --route heuristic too"),
        (["--route", "heuristic", "--tiers", "claude-haiku-4-5"], "two tiers or more"),
        (["--route", "heuristic", "--tiers", "claude-haiku-4-5,gpt-9"], "unknown model 'gpt-9'"),
        (["--route", "classify-everything"], "invalid choice: 'classify-everything'"),
        ([*TIERS, "--classifier", "claude-haiku-5-5"], "give --route classify too"),
        (["--classifier", "claude-haiku-5-5"], "give --route classify too"),
        ([*CLASSIFY, "--classifier", "gpt-9"], "unknown model 'gpt-9'"),
        ([*CLASSIFY, "--classifier", "nowhere:model"], "not a connection: 'nowhere:model'"),
        ([*CLASSIFY, "--classifier", " "], "--classifier: name a model"),
    ],
)
def test_routing_options_that_cannot_work_are_refused_in_one_line(
    shared_data: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "blockpass.cli", "estimate", *job(shared_data), *options],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2


def test_a_classify_run_against_a_served_anthropic_endpoint_sends_the_pass_to_the_classifier(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A served sandbox stands in for the real API: every tier and the classifier are
    reached over the Anthropic SDK with the key from the environment."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
    sandbox = Sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    out = tmp_path / "run"
    with serve_in_thread(create_app(sandbox)) as server:
        code = main(
            ["run", *job(shared_data)[:3], "--provider", "anthropic", "--base-url", server.base_url,
             "--plain", *CLASSIFY, "--classifier", "claude-haiku-5-5", "--out", str(out)]
        )  # fmt: skip

    assert code == 0
    assert "classify pass on claude-haiku-5-5: 1 calls over " in capsys.readouterr().out
    calls = anyio.run(stored_calls, out)
    classify = [call.model for call in calls if call.pack_id.startswith("classify-")]
    assert classify == ["claude-haiku-5-5"]
    assert {call.model for call in calls} == {
        "claude-haiku-4-5", "claude-sonnet-4-5", "claude-haiku-5-5"
    }  # fmt: skip
    assert sandbox.stats.requests["POST /v1/messages"] == len(calls)
