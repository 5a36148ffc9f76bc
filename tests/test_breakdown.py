from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from blockpass.cli import main


def test_the_breakdown_accounts_for_every_block_and_its_savings_add_up(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    tldr = sorted((shared_data / "corpora" / "tldr").glob("b*.md"))[:30]
    folder = tmp_path / "pages"
    folder.mkdir()
    for page in tldr:
        (folder / page.name).write_bytes(page.read_bytes())
    (folder / "copy.md").write_bytes(tldr[0].read_bytes())
    code = main(["run", str(folder), "--guide", str(shared_data / "guides" / "18f-content-guide"),
                 "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--out", str(out)])  # fmt: skip
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    summary = report["breakdown"]
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert summary["blocks"] == len(lines)
    assert (
        summary["blocks"]
        == sum(summary["skipped"].values())
        + summary["reused"]
        + summary["by_rules"]
        + summary["sent_to_model"]
        + summary["failed"]
    )
    assert summary["reused"] >= 1  # copy.md repeats a page
    saved = {key: Decimal(value) for key, value in summary["saved_usd"].items()}
    baseline_all = Decimal(summary["baseline_all_blocks_usd"])
    actual = Decimal(report["actual_usd"]["total"])
    assert sum(saved.values()) + actual == baseline_all
    assert "saved by pre-filter" in capsys.readouterr().out
