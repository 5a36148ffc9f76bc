"""`blockpass eval`: the quality harness from the command line."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from blockpass.cli import main
from blockpass.sandbox import DEFAULT_API_KEY, Sandbox, SandboxConfig, create_app, serve_in_thread
from blockpass.sandbox.quality import QualityModel

PLOTS = (
    "quality_by_pack_size.png", "recall_by_position.png", "failures_by_pack_size.png",
    "cost_per_block.png",
)  # fmt: skip


def test_eval_on_the_sandbox_writes_plots_a_report_and_each_models_bound_with_its_data(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, bounds = tmp_path / "report", tmp_path / "bounds.toml"
    code = main(
        ["eval", "--provider", "sandbox", "--models", "claude-haiku-4-5,claude-sonnet-4-5",
         "--suite", str(shared_data / "styles" / "Google"), "--limit", "24",
         "--pack-sizes", "1,8", "--sandbox-quality", "--out", str(out),
         "--write-bounds", str(bounds)]
    )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    for name in (*PLOTS, "report.html", "eval.json", "blocks.jsonl"):
        assert (out / name).stat().st_size > 0
        assert f"wrote {out / name}" in printed
    assert (out / "quality_by_pack_size.png").read_bytes().startswith(b"\x89PNG")
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html
    assert "ASSUMED miss rates" in html
    assert "ASSUMED miss rates" in printed
    data = json.loads((out / "eval.json").read_text())
    rows = {(row["model"], row["pack_size"]): row for row in data["by_pack_size"]}
    assert set(rows) == {(m, s) for m in ("claude-haiku-4-5", "claude-sonnet-4-5") for s in (1, 8)}
    assert rows["claude-sonnet-4-5", 1]["metrics"]["recall"]["value"] == 1.0
    assert float(rows["claude-sonnet-4-5", 8]["cost_per_block"]) > 0
    lines = [json.loads(line) for line in (out / "blocks.jsonl").read_text().splitlines()]
    assert len(lines) == 2 * 2 * 24
    assert {line["cell_pack_size"] for line in lines} == {1, 8}
    assert all(line["pack_size"] <= line["cell_pack_size"] for line in lines)
    written = tomllib.loads(bounds.read_text())["models"]
    assert set(written) == {"claude-haiku-4-5", "claude-sonnet-4-5"}
    sonnet = written["claude-sonnet-4-5"]
    assert sonnet["sizes"] == [1, 8]
    assert sonnet["max_blocks"] == 8
    assert "sandbox quality model" in sonnet["run"]


def test_eval_with_the_anthropic_provider_runs_the_same_sweep_against_that_endpoint(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """A served sandbox stands in for the real API: the harness talks to it over the
    Anthropic SDK as it would to api.anthropic.com, with the key from the environment."""
    package = shared_data / "styles" / "write-good"
    monkeypatch.setenv("ANTHROPIC_API_KEY", DEFAULT_API_KEY)
    config = SandboxConfig(rules=package / "write-good", quality=QualityModel.assumed())
    sandbox = Sandbox(config)
    with serve_in_thread(create_app(sandbox)) as server:
        code = main(
            ["eval", "--provider", "anthropic", "--base-url", server.base_url,
             "--models", "claude-haiku-4-5", "--suite", str(package), "--limit", "16",
             "--pack-sizes", "1,4", "--out", str(tmp_path / "report")]
        )  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    data = json.loads((tmp_path / "report" / "eval.json").read_text())
    calls = sum(row["calls"] for row in data["by_pack_size"])
    assert calls >= 16 // 4
    assert sandbox.stats.requests["POST /v1/messages"] == calls
    assert data["settings"]["provider"] == "anthropic"
    assert {row["pack_size"] for row in data["by_pack_size"]} == {1, 4}
    # Nothing says sandbox: the harness cannot tell it from the real API.
    assert "sandbox" not in printed


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "give at least one --suite"),
        (["--pack-sizes", "1,x"], "--pack-sizes '1,x': whole numbers"),
        (["--pack-sizes", "0,5"], "distinct numbers of at least 1"),
        (["--modes", "later"], "--modes 'later': choose from realtime, batch"),
        (["--corpus", "/no/such/folder"], "--corpus: no such file or folder"),
    ],
)
def test_eval_refuses_bad_options_in_one_line(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    arguments: list[str], message: str,
) -> None:  # fmt: skip
    suite = [] if not arguments else ["--suite", str(shared_data / "styles" / "Google")]
    code = main(["eval", "--provider", "sandbox", "--out", str(tmp_path / "r"), *suite, *arguments])
    error = capsys.readouterr().err
    assert code == 2
    assert message in error
    assert len(error.strip().splitlines()) == 1


def test_eval_will_not_write_over_an_earlier_evaluation(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "r" / "runs").mkdir(parents=True)
    code = main(
        ["eval", "--provider", "sandbox", "--suite", str(shared_data / "styles" / "Google"),
         "--out", str(tmp_path / "r")]
    )  # fmt: skip
    assert code == 2
    assert "holds an earlier evaluation" in capsys.readouterr().err
