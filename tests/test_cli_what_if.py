"""A run nobody pays for still shows what it saves: the what-if line and report entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blockpass.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# A self-hosted server of the model: nobody bills for it.
FREE = """
[models."gpt-4.1-mini"]
provider = "openai"
input = 0
output = 0
cache_write_5m = 0
cache_write_1h = 0
cache_read = 0
batch_discount = 0
"""


def run_on_compatible_server(out: Path, *extra: str) -> int:
    from blockpass.sandbox import Sandbox, SandboxConfig, create_app, serve_in_thread

    sandbox = Sandbox(SandboxConfig(api_key="unused", rules=EXAMPLES / "rules" / "Example"))
    with serve_in_thread(create_app(sandbox)) as server:
        return main(
            ["run", str(EXAMPLES / "sample.md"), "--guide", str(EXAMPLES / "guide.md"),
             "--provider", "openai", "--base-url", f"{server.base_url}/v1", "--model",
             "gpt-4.1-mini", "--out", str(out), *extra]
        )  # fmt: skip


def test_a_run_priced_at_zero_says_what_the_same_usage_costs_on_a_hosted_model_as_a_what_if(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    prices = tmp_path / "free.toml"
    prices.write_text(FREE)
    assert run_on_compatible_server(tmp_path / "free", "--prices", str(prices)) == 0
    printed = capsys.readouterr().out
    what_if = json.loads((tmp_path / "free" / "report.json").read_text())["what_if"]
    assert what_if["model"] == "claude-sonnet-4-5"
    assert 0 < float(what_if["actual_usd"]) < float(what_if["baseline_usd"])
    (line,) = [line for line in printed.splitlines() if line.startswith("what-if")]
    assert "claude-sonnet-4-5" in line
    assert "not a bill" in line
    assert f"${float(what_if['actual_usd']):,.6f}" in line

    # The same figure --price-as gives, and a priced run is its own answer: no what-if.
    assert run_on_compatible_server(tmp_path / "priced", "--price-as", "claude-sonnet-4-5") == 0
    printed = capsys.readouterr().out
    priced = json.loads((tmp_path / "priced" / "report.json").read_text())
    assert priced["actual_usd"]["total"] == what_if["actual_usd"]
    assert "what_if" not in priced
    assert "what-if" not in printed
