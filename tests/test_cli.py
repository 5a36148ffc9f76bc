"""The command line end to end, as a user runs it: real corpora, the sandbox in-process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.cli import main
from blockpass.outputs import revised_path
from blockpass.store import CallRecord, open_sqlite_store

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
RUN = ["run", "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--mode", "realtime"]


def chapters(shared_data: Path, count: int, tmp_path: Path) -> Path:
    folder = tmp_path / "book"
    folder.mkdir()
    for chapter in sorted((shared_data / "corpora" / "rust-book").glob("ch0*.md"))[:count]:
        shutil.copy(chapter, folder / chapter.name)
    return folder


def test_a_run_writes_results_revised_documents_and_a_report(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = chapters(shared_data, 3, tmp_path)
    out = tmp_path / "out"
    guide = shared_data / "guides" / "18f-content-guide"
    rules = shared_data / "styles" / "Google" / "Google"
    code = main(
        [*RUN, str(book), "--guide", str(guide), "--sandbox-rules", str(rules), "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "baseline" in printed
    assert "cheaper" in printed
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {line["outcome"] for line in lines} <= {"result", "skipped", "failed"}
    assert len({line["block_id"] for line in lines}) == len(lines)
    assert any(line.get("edits") for line in lines)
    report = json.loads((out / "report.json").read_text())
    assert report["calls"] >= 1
    edited = next(line for line in lines if line.get("edits"))
    document = edited["document"]
    revised = (out / "revised" / document).read_text()
    original = (book / document).read_text()
    assert revised != original
    first = edited["edits"][0]
    assert first["replace"] in revised


def test_the_sandbox_example_in_the_readme_applies_the_rules_edits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "example"
    code = main(
        [
            "run",
            str(EXAMPLES / "sample.md"),
            "--guide",
            str(EXAMPLES / "guide.md"),
            "--provider",
            "sandbox",
            "--sandbox-rules",
            str(EXAMPLES / "rules" / "Example"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    revised = next((out / "revised").rglob("sample.md")).read_text()
    assert "utilize" not in revised
    assert "use the widget service" in revised


def test_a_rerun_on_a_finished_run_directory_sends_nothing(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    book = chapters(shared_data, 1, tmp_path)
    out = tmp_path / "out"
    arguments = [*RUN, str(book), "--guide", str(EXAMPLES / "guide.md"), "--out", str(out)]
    assert main(arguments) == 0
    first = json.loads((out / "report.json").read_text())["calls"]
    assert main(arguments) == 0
    assert json.loads((out / "report.json").read_text())["calls"] == first


@pytest.mark.slow
def test_a_run_killed_midway_resumes_without_paying_for_any_block_twice(
    shared_data: Path, tmp_path: Path
) -> None:
    book = shared_data / "corpora" / "rust-book"
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "blockpass.cli",
        *RUN,
        str(book),
        "--guide",
        str(shared_data / "guides" / "18f-content-guide"),
        "--out",
        str(out),
        "--sandbox-latency",
        "0.2",
        "--concurrency",
        "4",
        "--verbose",
    ]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    stored = threading.Event()
    seen: list[str] = []

    def watch() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            seen.append(line)
            if sum(entry.startswith("call ") for entry in seen) >= 10:
                stored.set()
                return

    threading.Thread(target=watch, daemon=True).start()
    assert stored.wait(timeout=120), "".join(seen[-5:])
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)

    calls, results, _ = anyio.run(read_store, out)
    done_before = {
        block_id for block_id, result in results.items() if result.outcome is Outcome.RESULT
    }
    calls_before = {call.id for call in calls}
    assert done_before
    assert len(calls_before) >= 10

    finished = subprocess.run(
        command[:-1], capture_output=True, text=True, timeout=600, check=False
    )
    assert finished.returncode == 0, finished.stderr
    calls, results, blocks = anyio.run(read_store, out)
    later_calls = [call for call in calls if call.id not in calls_before]
    assert later_calls
    assert {block for call in later_calls for block in call.block_ids} & done_before == set()
    assert set(results) == {block.id for block in blocks}
    assert {result.outcome for result in results.values()} <= {Outcome.RESULT, Outcome.SKIPPED}


async def read_store(out: Path) -> tuple[list[CallRecord], dict[str, BlockResult], list[Block]]:
    store = await open_sqlite_store(out)
    try:
        return await store.calls(), await store.results(), await store.blocks()
    finally:
        await store.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "missing-folder", "--guide", "examples/guide.md"], "missing-folder"),
        (
            ["run", "examples/sample.md", "--guide", "no-such-guide.md"],
            "no-such-guide.md: no such file",
        ),
        (
            ["run", "examples/sample.md", "--guide", "examples/guide.md", "--model", "claude-9"],
            "unknown model",
        ),
        (
            [
                "run",
                "examples/sample.md",
                "--guide",
                "examples/guide.md",
                "--provider",
                "anthropic",
            ],
            "ANTHROPIC_API_KEY",
        ),
        (["run", "binary.md", "--guide", "examples/guide.md"], "binary.md"),
        (["run", "latin1.md", "--guide", "examples/guide.md"], "UTF-8"),
        (["run", "empty.md", "--guide", "examples/guide.md"], "empty"),
        (
            ["estimate", "examples/sample.md", "--guide", "examples/guide.md", "--max-blocks", "0"],
            "--min-blocks",
        ),
    ],
)
def test_bad_input_gets_one_clear_line_and_a_non_zero_exit(
    arguments: list[str], message: str, tmp_path: Path
) -> None:
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    (tmp_path / "binary.md").write_bytes(b"\x00\x01\x02 not text")
    (tmp_path / "latin1.md").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (tmp_path / "empty.md").write_text("")
    environment = {key: value for key, value in os.environ.items() if key != "ANTHROPIC_API_KEY"}
    result = subprocess.run(
        [sys.executable, "-m", "blockpass.cli", *arguments, "--out", str(tmp_path / "out")]
        if arguments[0] == "run"
        else [sys.executable, "-m", "blockpass.cli", *arguments],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("blockpass: error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_block_too_large_for_the_context_fails_alone_and_the_rest_of_the_run_finishes(
    tmp_path: Path,
) -> None:
    document = tmp_path / "huge.md"
    document.write_text(
        "Please utilize the widget.\n\n" + "word " * 300_000 + "\n\nThe end is near.\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "blockpass.cli", *RUN, str(document),
         "--guide", str(EXAMPLES / "guide.md"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    lines = [
        json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()
    ]
    assert [line["outcome"] for line in lines] == ["result", "failed", "result"]
    assert lines[1]["reason"].startswith(
        "block too large for claude-sonnet-4-5's context window: 300,0"
    )


@pytest.mark.slow
def test_a_guide_too_large_for_the_context_says_so_in_one_line(tmp_path: Path) -> None:
    guide = tmp_path / "guide.md"
    guide.write_text("# Guide\n\n" + "Write plainly. " * 100_000)
    result = subprocess.run(
        [sys.executable, "-m", "blockpass.cli", *RUN, str(EXAMPLES / "sample.md"),
         "--guide", str(guide), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "the guide and instructions (" in lines[0]
    assert "do not fit claude-sonnet-4-5's context window (200,000 tokens" in lines[0]
    assert "Traceback" not in result.stderr


def test_revised_documents_never_leave_the_run_directory(tmp_path: Path) -> None:
    assert revised_path(tmp_path, "/etc/passwd") == tmp_path / "revised" / "etc" / "passwd"
    assert revised_path(tmp_path, "../../x.md") == tmp_path / "revised" / "x.md"


def test_estimate_prints_a_forecast_per_strategy_without_calling_anything(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "estimate",
            str(shared_data / "corpora" / "rust-book"),
            "--guide",
            str(shared_data / "guides" / "18f-content-guide"),
            "--model",
            "claude-sonnet-4-5",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "blocks" in printed


def test_lint_prints_vale_style_alerts_without_any_model(
    shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chapter = shared_data / "corpora" / "rust-book" / "ch01-01-installation.md"
    code = main(
        [
            "lint",
            str(chapter),
            "--styles",
            str(shared_data / "styles" / "Google" / "Google"),
            "--format",
            "vale",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert code in (0, 1)
    assert lines
    path, line, column, rule, message = lines[0].split(":", 4)
    assert path == str(chapter)
    assert int(line) >= 1
    assert int(column) >= 1
    assert rule.startswith("Google.")
    assert message


@pytest.mark.slow
def test_with_no_provider_configured_a_run_uses_the_local_model_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BLOCKPASS_PROVIDER", raising=False)
    for variable in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(variable, raising=False)
    document = tmp_path / "short.md"
    document.write_text("# Setup\n\nYou can utilize the installer in order to set things up.\n")
    out = tmp_path / "out"
    assert (
        main(["run", str(document), "--guide", str(EXAMPLES / "guide.md"), "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    assert "smollm2-135m-instruct" in printed
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [line["outcome"] for line in lines] == ["result", "result"]
    assert json.loads((out / "report.json").read_text())["served_by"] == "local"


def test_a_model_on_a_compatible_server_is_described_by_its_stated_profile_and_priced_at_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["estimate", str(EXAMPLES / "sample.md"), "--guide", str(EXAMPLES / "guide.md"),
         "--provider", "openai", "--model", "qwen3-8b", "--context-window", "32768",
         "--max-output", "4096"]
    )  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "qwen3-8b" in printed
    assert "$0.000000" in printed


def test_a_run_reaches_an_openai_compatible_server_through_base_url_with_a_stated_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from blockpass.sandbox import Sandbox, SandboxConfig, create_app, serve_in_thread

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    sandbox = Sandbox(SandboxConfig(api_key="unused", rules=EXAMPLES / "rules" / "Example"))
    out = tmp_path / "out"
    with serve_in_thread(create_app(sandbox)) as server:
        code = main(
            ["run", str(EXAMPLES / "sample.md"), "--guide", str(EXAMPLES / "guide.md"),
             "--provider", "openai", "--base-url", f"{server.base_url}/v1",
             "--model", "gpt-4.1-mini", "--context-window", "32768", "--max-output", "4096",
             "--out", str(out)]
        )  # fmt: skip
    assert code == 0
    assert sandbox.stats.requests["POST /v1/chat/completions"] >= 1
    report = json.loads((out / "report.json").read_text())
    # A model id with a list price keeps it; an unknown one is priced at zero (above).
    assert report["models"][0]["model"] == "gpt-4.1-mini"
    assert report["served_by"] == "openai"
    assert "use the widget service" in next((out / "revised").rglob("sample.md")).read_text()


@pytest.mark.slow
def test_a_batch_run_killed_after_submitting_collects_the_same_batches_on_restart(
    shared_data: Path, tmp_path: Path
) -> None:
    import queue

    from blockpass.sandbox import (
        DEFAULT_API_KEY,
        ManualClock,
        Sandbox,
        SandboxConfig,
        create_app,
        serve_in_thread,
    )

    clock = ManualClock(start=time.time())
    sandbox = Sandbox(
        SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"), clock=clock
    )
    out = tmp_path / "out"
    with serve_in_thread(create_app(sandbox)) as server:
        command = [
            sys.executable, "-m", "blockpass.cli", "run", str(chapters(shared_data, 2, tmp_path)),
            "--guide", str(shared_data / "guides" / "18f-content-guide"),
            "--provider", "anthropic", "--base-url", server.base_url, "--model", "claude-sonnet-4-5",
            "--mode", "batch", "--batch-max-blocks", "20", "--poll-interval", "0.05",
            "--poll-max", "0.2", "--out", str(out),
        ]  # fmt: skip
        environment = {**os.environ, "ANTHROPIC_API_KEY": DEFAULT_API_KEY}
        child = subprocess.Popen(
            [*command, "--verbose"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
            text=True, env=environment,
        )  # fmt: skip
        submitted: queue.Queue[str] = queue.Queue()

        def watch() -> None:
            assert child.stderr is not None
            for line in child.stderr:
                if line.startswith("batch "):
                    submitted.put(line)

        threading.Thread(target=watch, daemon=True).start()
        submitted.get(timeout=120)  # the primer, one pack
        clock.advance(120)  # it ends; the rest goes in a second batch
        second = submitted.get(timeout=120)
        # Killed after submitting and before collecting.
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        assert len(sandbox.batches.listing(limit=100, after_id=None, before_id=None)) == 2
        clock.advance(120)
        finished = subprocess.run(
            command, capture_output=True, text=True, timeout=300, check=False, env=environment
        )
        assert finished.returncode == 0, finished.stderr
        batches = sandbox.batches.listing(limit=100, after_id=None, before_id=None)
    assert len(batches) == 2, "nothing was submitted twice"
    packs = int(second.split(":")[1].split()[0]) + 1
    calls, results, blocks = anyio.run(read_store, out)
    assert len(calls) == packs
    assert all(call.batch for call in calls)
    assert set(results) == {block.id for block in blocks}
    assert {result.outcome for result in results.values()} <= {Outcome.RESULT, Outcome.SKIPPED}
