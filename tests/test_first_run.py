"""The README's main-job command, run as a newcomer runs it: on the real embedded local model.

Slow (the 135M model generates on the CPU), and meant to be: it is the first thing a user sees.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from blockpass.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
# The longest note the run may print: the engine's messages and the model's references.
NOTE_BOUND = 160
# A note is degenerate when a piece of 1 to 4 characters repeats 4 times in a row
# (`1.1.1.1.`), a word 3 times in a row, or any run of 2 to 4 words comes back (the model
# loops: `it is very easy to use. It is very easy to use`), or when it is over the bound.
_REPEATED_PIECE = re.compile(r"(.{1,4}?)\1{3,}")


def is_degenerate(note: str) -> bool:
    words = re.findall(r"\w+", note.lower())
    for size in (2, 3, 4):
        grams = [tuple(words[start : start + size]) for start in range(len(words) - size + 1)]
        if len(grams) != len(set(grams)):
            return True
    tripled = any(words[i] == words[i + 1] == words[i + 2] for i in range(len(words) - 2))
    return len(note) > NOTE_BOUND or tripled or _REPEATED_PIECE.search(note) is not None


def test_degenerate_notes_are_told_apart_from_sensible_ones() -> None:
    assert is_degenerate("1.1.1.1.1.1.1.1")
    assert is_degenerate("The widget service is very easy to use, and it is very easy to use.")
    assert is_degenerate("very very very")
    assert is_degenerate("x" * (NOTE_BOUND + 1))
    assert not is_degenerate("Example.PlainWords: Use 'use' instead of 'utilize'.")
    assert not is_degenerate("guide: Words and spelling")


def readme_main_job() -> list[str]:
    """The arguments of the README's main-job command (the line that installs, then runs)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (line,) = [line for line in readme.splitlines() if "/bin/blockpass run examples/" in line]
    return shlex.split(line.split("/bin/blockpass ", 1)[1])


@pytest.mark.slow
def test_the_readme_main_job_shows_rule_fixes_model_references_and_a_what_if_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BLOCKPASS_PROVIDER", raising=False)
    for variable in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    args = readme_main_job()
    out = tmp_path / "sample"
    args[args.index("--out") + 1] = str(out)
    monkeypatch.chdir(REPO)

    assert main(args) == 0

    printed = capsys.readouterr().out
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    headings = re.findall(r"^#+ (.+)$", (EXAMPLES / "guide.md").read_text(), re.MULTILINE)
    rules = {f"Example.{path.stem}" for path in (EXAMPLES / "rules" / "Example").glob("*.yml")}
    notes = [note for line in lines for note in line.get("notes", [])]
    model_notes = [note for note in notes if note.startswith("guide: ")]
    assert notes
    assert model_notes
    assert [note for note in notes if is_degenerate(note)] == []
    for note in notes:
        assert note.split(":")[0] in rules or note.removeprefix("guide: ") in headings, note
    assert all(len(set(line["notes"])) == len(line["notes"]) for line in lines if "notes" in line)
    assert all(line.get("rejected_edits", []) == [] for line in lines)

    # The rule engine's safe fix, applied in place; the quoted note keeps its text.
    fixes = [edit for line in lines for edit in line.get("edits", [])]
    assert {"find": "e-mail", "replace": "email", "rule": "Example.PlainWords"} in [
        {key: edit[key] for key in ("find", "replace", "rule")}
        for edit in fixes
        if edit.get("source") == "rules"
    ]
    revised = (out / "revised" / "examples" / "sample.md").read_text()
    assert "You can sign up via email." in revised
    assert "Don't share them via e-mail" in revised
    assert "pip install widget-cli" in revised

    report = json.loads((out / "report.json").read_text())
    assert report["breakdown"]["skipped"]  # the pre-filter kept the code block from the model
    assert report["calls"] >= 2  # packed: more than one pack, ...
    assert report["tokens"]["cache_read"] > 0  # ... the later ones reusing the prefix's KV
    assert report["what_if"]["model"] == "claude-sonnet-4-5"
    assert float(report["what_if"]["actual_usd"]) > 0
    (what_if,) = [line for line in printed.splitlines() if line.startswith("what-if")]
    assert "claude-sonnet-4-5" in what_if
    assert "not a bill" in what_if
    (this_run_cost,) = [line for line in printed.splitlines() if line.startswith("this run cost")]
    assert this_run_cost.endswith("at one uncached call per block; nothing was paid")
