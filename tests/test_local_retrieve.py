"""The embedded local model (an 8,192-token window) and a guide it cannot take whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blockpass.cli import main

pytestmark = pytest.mark.slow

PARAGRAPHS = (
    "In order to utilize the service, users must first of all create an account.",
    "The form should be filled out by the applicant prior to the submission deadline.",
)


def test_the_local_model_runs_part_of_the_18f_guide_with_retrieved_rules_only(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = tmp_path / "doc.md"
    document.write_text("\n\n".join(PARAGRAPHS) + "\n")
    # The guide's "our approach" part: about 9,400 tokens, more than the model's window
    # (the whole guide's 25,700 runs the same way, with a longer index build: see the note).
    guide = shared_data / "guides" / "18f-content-guide" / "our-approach"
    job = ["run", str(document), "--guide", str(guide), "--provider", "local", "--plain"]
    cache = ["--cache-dir", str(tmp_path / "cache")]

    assert main([*job, "--out", str(tmp_path / "full")]) == 2
    assert "do not fit smollm2-135m-instruct's context window" in capsys.readouterr().err

    out = tmp_path / "retrieve"
    assert main([*job, "--context", "retrieve", *cache, "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["context"]["mode"] == "retrieve"
    assert report["calls"] >= 1
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(lines) == len(PARAGRAPHS)
    # Every block ends with a result or a recorded reason, whatever the small model wrote.
    assert all(line["outcome"] == "result" or line.get("reason") for line in lines)
