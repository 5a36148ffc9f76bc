"""``blockpass rules search``: its output and its refusals. The fast tests stand a small
hashing embedder in for the model; the slow one runs the real command in a process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import blockpass.rag
from blockpass.cli import main
from blockpass.cli_arguments import EXIT_USER_ERROR
from blockpass.cli_rules import default_cache_dir

from .rag.embedders import HashingEmbedder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def small_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blockpass.rag, "MiniLmEmbedder", HashingEmbedder)


@pytest.fixture
def redhat_guide(shared_data: Path) -> Path:
    return shared_data / "guides" / "redhat-supplementary-style-guide"


@pytest.mark.usefixtures("small_model")
def test_search_prints_the_top_units_with_scores_ranks_and_confidence(
    redhat_guide: Path, google_rules: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["rules", "search", "Configure the A-MQ Broker; it will start.", "-k", "6"]
    argv += ["--guide", str(redhat_guide), "--styles", str(google_rules)]
    assert main([*argv, "--cache-dir", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 7
    assert lines[0].startswith("  1  1.0")
    assert "  trigger  bm25 #1 " in lines[0]
    assert lines[0].endswith("a.adoc#amq-broker  AMQ Broker (noun)")
    assert any("vale rule" in line and "Google.Will" in line for line in lines[:6])
    assert lines[6].startswith("confidence: margin ")
    assert re.search(r", units close in meaning \d+$", lines[6])
    assert "building the rule index of" in err
    assert main([*argv, "--cache-dir", str(tmp_path), "--retriever", "bm25"]) == 0
    out, err = capsys.readouterr()
    assert err == ""  # the index was built before: loaded, not built
    assert "dense -" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["text", "-k", "0"], "-k must be at least 1, not 0"),
        (["  ", "--styles", "STYLES"], "nothing to search for"),
        (["text"], "give a guide (--guide), style packages (--styles), or both"),
        (["text", "--guide", "MISSING"], "guide not found"),
        (["text", "--styles", "MISSING"], "--styles: not a folder"),
        (["text", "--guide", "BINARY"], "not valid UTF-8"),
        (["text", "--guide", "FRONT_MATTER_ONLY"], "no text outside its front matter"),
        (["text", "--styles", "STYLES", "--retriever", "magic"], "invalid choice: 'magic'"),
        (["text", "--styles", "STYLES", "-k", "many"], "invalid int value: 'many'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_without_a_traceback(
    arguments: list[str],
    message: str,
    google_rules: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00binary")
    (tmp_path / "front.md").write_text("---\ntitle: Only this\n---\n")
    places = {
        "STYLES": str(google_rules),
        "MISSING": str(tmp_path / "missing"),
        "BINARY": str(tmp_path / "binary.md"),
        "FRONT_MATTER_ONLY": str(tmp_path / "front.md"),
    }
    argv = ["rules", "search", *(places.get(word, word) for word in arguments)]
    assert exit_code([*argv, "--cache-dir", str(tmp_path / "cache")]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
    assert "Traceback" not in err


def exit_code(argv: list[str]) -> object:
    """What the process would exit with: ``main``'s return, or the parser's exit."""
    try:
        return main(argv)
    except SystemExit as exit:
        return exit.code


def test_the_default_cache_follows_xdg_and_falls_back_to_the_home_cache() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/blockpass")
    assert default_cache_dir({}) == Path.home() / ".cache" / "blockpass"


@pytest.mark.slow
def test_the_real_command_builds_once_offline_then_loads(shared_data: Path, tmp_path: Path) -> None:
    guide = shared_data / "guides" / "18f-content-guide" / "our-style" / "active-voice.md"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = str(REPO / "src")
    command = [sys.executable, "-m", "blockpass.cli", "rules", "search"]
    command += ["The form was submitted by the user.", "--guide", str(guide), "-k", "2"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith("blockpass: building the rule index of")
    ranked = first.stdout.splitlines()
    assert len(ranked) == 3
    # The passive-voice cue makes the guide's section on it certain; the page itself next.
    assert "trigger" in ranked[0]
    assert "How to recognize the passive voice" in ranked[0]
    assert ranked[1].endswith("active-voice.md  Active voice")
    second = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert (second.returncode, second.stderr, second.stdout) == (0, "", first.stdout)
    assert list((tmp_path / "blockpass").iterdir())
