"""What the command line reads, and where each input's results and revision go.

Runs here use the rule engine alone (`--styles`, no guide), so they make no model call.
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from blockpass.cli import main
from blockpass.outputs import revised_paths

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "examples" / "rules" / "Example"
RUN = ["run", "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--mode", "realtime"]


def run_cli(
    arguments: list[str], cwd: Path, *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process that can neither hang the test nor exhaust memory."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    return subprocess.run(
        [sys.executable, "-m", "blockpass.cli", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit_memory,
        check=False,
    )


def results(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_a_fifo_named_on_the_command_line_is_refused_at_once_in_one_line(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.md")
    result = run_cli([*RUN, "x.md", "--styles", str(RULES), "--out", "out"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "blockpass: error: x.md: is a FIFO, not a regular file; only regular files are read"
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deep.json", b"[" * 2000 + b"]" * 2000, "deep.json: JSON nested too deeply"),
        ("deep.jsonl", b"[" * 2000 + b"]" * 2000 + b"\n", "deep.jsonl: line 1: JSON nested too"),
        ("wide.md", "\ufeffSome text.\n".encode("utf-16"), "wide.md: looks like UTF-16 text"),
        (
            "half.jsonl",
            b'{"id": "p1", "text": "half a \\ud800 character"}\n',
            "half.jsonl: line 1: 'text' holds a lone surrogate (\\ud800)",
        ),
    ],
)
def test_input_the_readers_cannot_take_gets_one_line_not_a_traceback(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    result = run_cli([*RUN, name, "--styles", str(RULES), "--out", "out"], tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"blockpass: error: {message}")


@pytest.mark.slow
def test_fifos_and_devices_in_a_folder_are_skipped_with_a_note_and_the_rest_is_run(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("A regular page.\n")
    (docs / "link.md").symlink_to(docs / "a.md")
    os.mkfifo(docs / "x.md")
    (docs / "zero.md").symlink_to("/dev/zero")
    result = run_cli([*RUN, "docs", "--styles", str(RULES), "--out", "out"], tmp_path)
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("blockpass: note:")]
    assert notes == [
        "blockpass: note: docs/x.md: skipped, it is a FIFO, not a regular file",
        "blockpass: note: docs/zero.md: skipped, it is a character device, not a regular file",
        "blockpass: note: skipped in folders: 2 files: 2 not regular",
    ]
    assert [line["document"] for line in results(tmp_path / "out")] == ["a.md", "link.md"]
    assert (tmp_path / "out" / "revised" / "link.md").read_text() == "A regular page.\n"
    linted = run_cli(["lint", "docs", "--styles", str(RULES)], tmp_path)
    assert [line for line in linted.stderr.splitlines() if "note:" in line] == notes


def test_the_same_jsonl_id_in_two_files_gives_each_block_its_own_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for folder, text in (("a", "It is very good."), ("b", "Please wait.")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "blocks.jsonl").write_text(json.dumps({"id": "p1", "text": text}))
    # A user id that spells another document's positional block id.
    (tmp_path / "md1.md").write_text("It is really good.\n")
    (tmp_path / "c.jsonl").write_text(json.dumps({"id": "md1.md#0", "text": "Please go."}))
    out = tmp_path / "out"
    code = main([*RUN, str(tmp_path), "--styles", str(RULES), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    lines = {line["document"]: line for line in results(out)}
    assert sorted(lines) == ["a/blocks.jsonl", "b/blocks.jsonl", "c.jsonl", "md1.md"]
    assert len({line["block_id"] for line in lines.values()}) == 4
    assert {name: line.get("source_id") for name, line in lines.items()} == {
        "a/blocks.jsonl": "p1",
        "b/blocks.jsonl": "p1",
        "c.jsonl": "md1.md#0",
        "md1.md": None,
    }
    # Each block's notes are about its own text.
    assert {name: line["notes"] for name, line in lines.items()} == {
        "a/blocks.jsonl": ["Example.Hedging: Cut 'very': it adds length without meaning."],
        "b/blocks.jsonl": ["Example.Please: Don't say 'please' in instructions."],
        "c.jsonl": ["Example.Please: Don't say 'please' in instructions."],
        "md1.md": ["Example.Hedging: Cut 'really': it adds length without meaning."],
    }


def test_same_named_inputs_get_distinct_revised_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.md").write_text("The inner page.\n")
    (tmp_path / "a.md").write_text("The outer page.\n")
    monkeypatch.chdir(work)
    code = main([*RUN, "a.md", "../a.md", "--styles", str(RULES), "--out", "out"])
    assert code == 0, capsys.readouterr().err
    revised = {
        path.relative_to(work / "out" / "revised").as_posix(): path.read_text()
        for path in (work / "out" / "revised").rglob("*.md")
    }
    assert revised.pop("a.md") == "The inner page.\n"
    [(other, text)] = revised.items()
    assert text == "The outer page.\n"
    assert re.fullmatch(r"a\.[0-9a-f]{8}\.md", other)


def test_revised_names_do_not_depend_on_the_order_of_the_inputs(tmp_path: Path) -> None:
    ids = ["../a.md", "a.md", "/abs/a.md", "abs/a.md", "../../a.md", "b.md"]
    forward = revised_paths(tmp_path, ids)
    assert forward == revised_paths(tmp_path, ids[::-1])
    assert len(set(forward.values())) == len(ids)
    assert forward["a.md"] == tmp_path / "revised" / "a.md"
    assert forward["abs/a.md"] == tmp_path / "revised" / "abs" / "a.md"
    assert forward["b.md"] == tmp_path / "revised" / "b.md"
    for path in forward.values():
        assert path.is_relative_to(tmp_path / "revised")
    # Names that differ only in case would meet on a case-insensitive disk.
    cased = revised_paths(tmp_path, ["a.md", "A.md"]).values()
    assert len({path.as_posix().casefold() for path in cased}) == 2


def test_a_run_directory_reused_for_other_inputs_still_reports_what_it_paid_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Also what a run directory made before JSONL ids were scoped looks like: results stored
    # under block ids that no input has any more.
    out = tmp_path / "out"
    guide = REPO / "examples" / "guide.md"
    for name, text in (("a.md", "Please utilize the tool.\n"), ("b.md", "Another page.\n")):
        (tmp_path / name).write_text(text)
        code = main([*RUN, str(tmp_path / name), "--guide", str(guide), "--out", str(out)])
        assert code == 0, capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    assert report["calls"] == 2
    assert [line["document"] for line in results(out)] == [str(tmp_path / "b.md")]


def _special_file(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fifo", "endless device"])
@pytest.mark.parametrize("option", ["--guide", "--prices", "a rule file"])
def test_a_guide_rule_or_price_file_that_is_not_a_regular_file_is_refused_in_one_line(
    tmp_path: Path, option: str, kind: str
) -> None:
    (tmp_path / "page.md").write_text("A regular page.\n")
    styles = tmp_path / "Style"
    styles.mkdir()
    (styles / "Plain.yml").write_text((RULES / "Please.yml").read_text())
    arguments = [*RUN, "page.md", "--styles", str(styles), "--out", "out"]
    if option == "a rule file":
        target = styles / "Broken.yml"
    else:
        target = tmp_path / ("guide.md" if option == "--guide" else "prices.toml")
        arguments += [option, target.name]
    _special_file(target, kind)
    result = run_cli(arguments, tmp_path)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    described = "a FIFO" if kind == "fifo" else "a character device"
    assert line.startswith("blockpass: error: ")
    assert f"is {described}, not a regular file" in line


def backtracking_style(tmp_path: Path) -> tuple[Path, str]:
    """A style whose one rule never ends on a.md (written too), and what blockpass says."""
    styles = tmp_path / "styles" / "Hostile"
    styles.mkdir(parents=True)
    (styles / "Backtracks.yml").write_text(
        "extends: existence\nmessage: \"'%s'\"\nnonword: true\ntokens:\n  - '(a|aa)+$'\n"
    )
    (tmp_path / "a.md").write_text("a" * 60 + "!\n")
    return styles, (
        f"{styles / 'Backtracks.yml'}: rule Hostile.Backtracks ran over 5 s on one block: its"
        " pattern backtracks catastrophically; simplify it or remove the rule"
    )


@pytest.mark.slow
def test_a_rule_whose_pattern_backtracks_catastrophically_is_one_error_line_not_a_hang(
    tmp_path: Path,
) -> None:
    styles, message = backtracking_style(tmp_path)
    for command in (["lint"], [*RUN, "--out", "out"]):
        result = run_cli([*command, "a.md", "--styles", str(styles)], tmp_path)
        assert result.returncode == 2
        assert result.stderr.splitlines() == [f"blockpass: error: {message}"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["realtime", "batch"])
def test_a_sandbox_rule_that_never_ends_fails_the_block_with_the_reason_not_the_server(
    tmp_path: Path, mode: str
) -> None:
    styles, message = backtracking_style(tmp_path)
    guide = REPO / "examples" / "guide.md"
    result = run_cli(
        [*RUN, "a.md", "--guide", str(guide), "--out", "out", "--mode", mode,
         "--sandbox-rules", str(styles), "--sandbox-batch-seconds", "0"],
        tmp_path,
        # Every attempt runs the rule for its full 5 s before the block fails: seen taking
        # 55-60 s with the CPU loaded (load average ~7). 180 s still catches a hang.
        timeout=180,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    [line] = results(tmp_path / "out")
    assert line["outcome"] == "failed"
    assert message in line["reason"]


@pytest.mark.slow
def test_an_input_folder_that_is_also_the_run_directory_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("It is very good.\n")
    result = run_cli([*RUN, "docs", "--styles", str(RULES), "--out", "./docs/"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "blockpass: error: docs: an input folder cannot also be the run directory (--out);"
        " choose another --out"
    ]
    assert sorted(path.name for path in (tmp_path / "docs").iterdir()) == ["a.md"]
