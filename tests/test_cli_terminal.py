"""`blockpass run` on a terminal (a pseudo-terminal) and in a pipe, as a user and a script see it."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
from decimal import Decimal
from pathlib import Path

import anyio
import pytest

from blockpass.cli import main
from blockpass.pipeline import JobSpec, run_job
from blockpass.prices import load_prices
from blockpass.progress import Spend
from blockpass.providers import model_profile, open_adapter
from blockpass.sandbox import DEFAULT_API_KEY, Sandbox, SandboxConfig, create_app, serve_in_thread
from tests.signals import interruptible
from tests.test_cli import chapters
from tests.test_cli_interruptions import ANSWERED, CONCURRENCY, WAIT_SECONDS, HoldAfter, wait_for

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
JOB = [str(EXAMPLES / "sample.md"), "--guide", str(EXAMPLES / "guide.md")]
RUN = ["run", "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--mode", "realtime"]
ESCAPE = "\x1b"
COLOR = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7])m")
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def visible(shown: str) -> str:
    return CONTROL.sub("", shown)


def environment(**extra: str) -> dict[str, str]:
    """The test's environment for a child, without what would decide its output for it."""
    ignored = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")
    base = {key: value for key, value in os.environ.items() if key not in ignored}
    return {**base, "TERM": "xterm-256color", **extra}


class Terminal:
    """A child process on a pseudo-terminal 120 columns wide; everything it shows, read."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self._master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        self.child = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=cwd,
            preexec_fn=interruptible,
        )
        os.close(slave)
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while select.select([self._master], [], [], WAIT_SECONDS)[0]:
            try:
                data = os.read(self._master, 65_536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            self._chunks.append(data)

    def finish(self) -> tuple[int, str]:
        code = self.child.wait(timeout=WAIT_SECONDS)
        self._reader.join(WAIT_SECONDS)
        os.close(self._master)
        return code, b"".join(self._chunks).decode("utf-8", errors="replace")


def on_terminal(arguments: list[str], tmp_path: Path, **env: str) -> tuple[int, str]:
    command = [sys.executable, "-m", "blockpass.cli", *arguments]
    return Terminal(command, environment(**env), tmp_path).finish()


@pytest.mark.slow
def test_a_piped_run_writes_no_escape_codes_and_the_plain_report_scripts_read(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "blockpass.cli", *RUN, *JOB, "--out", str(tmp_path / "out")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env=environment(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ESCAPE not in result.stdout + result.stderr
    assert "\r" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "this run sent 1 call"
    assert lines[1].startswith("this run cost     $")
    assert lines[2] == f"run report        every run in {tmp_path / 'out'}:"
    for label in ("provider", "calls", "actual", "baseline", "ratio", "cache hit ratio"):
        assert any(line.startswith(f"{label:<18}") for line in lines), label
    assert any(line.startswith("token class") for line in lines)


@pytest.mark.slow
def test_on_a_terminal_a_run_shows_its_progress_and_the_costs_as_tables(tmp_path: Path) -> None:
    code, shown = on_terminal([*RUN, *JOB, "--out", str(tmp_path / "out")], tmp_path)
    assert code == 0, shown
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert COLOR.search(shown)
    shown = visible(shown)
    assert "blocks/s" in shown
    assert f"1 call, ${Decimal(report['actual_usd']['total']):,.6f} spent, saved $" in shown
    assert "This run" in shown
    assert f"Every run in {tmp_path / 'out'}" in shown
    assert "┃ token class" in shown


@pytest.mark.slow
def test_plain_and_no_color_are_honoured_on_a_terminal(tmp_path: Path) -> None:
    code, shown = on_terminal([*RUN, *JOB, "--plain", "--out", str(tmp_path / "a")], tmp_path)
    assert code == 0, shown
    assert ESCAPE not in shown
    assert "ratio             " in shown
    code, shown = on_terminal([*RUN, *JOB, "--out", str(tmp_path / "b")], tmp_path, NO_COLOR="1")
    assert code == 0, shown
    assert "┃ token class" in visible(shown)
    assert not COLOR.search(shown)


def test_a_second_run_says_what_it_cost_itself_apart_from_the_report_of_every_run(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    book = chapters(shared_data, 2, tmp_path)
    first, second = sorted(book.iterdir())
    guide = ["--guide", str(EXAMPLES / "guide.md"), "--out", str(out)]
    assert main([*RUN, str(first), *guide]) == 0
    before = Decimal(json.loads((out / "report.json").read_text())["actual_usd"]["total"])
    capsys.readouterr()
    assert main([*RUN, str(first), str(second), *guide]) == 0
    lines = capsys.readouterr().out.splitlines()
    after = Decimal(json.loads((out / "report.json").read_text())["actual_usd"]["total"])
    assert lines[0].endswith("of earlier runs in this directory")
    assert lines[1].startswith(f"this run cost     ${after - before:,.6f} for ")
    assert lines[2] == f"run report        every run in {out}:"


def test_the_money_shown_while_a_run_runs_ends_at_what_the_report_says_it_cost(
    tmp_path: Path,
) -> None:
    spends: list[Spend] = []
    spec = JobSpec(inputs=[EXAMPLES / "sample.md"], guide=EXAMPLES / "guide.md", out_dir=tmp_path)

    async def run(base_url: str) -> None:
        provider = open_adapter(
            model_profile("claude-sonnet-4-5"),
            api_key=DEFAULT_API_KEY,
            base_url=base_url,
            name="sandbox",
        )
        try:
            outcome = await run_job(spec, provider, load_prices(), on_spend=spends.append)
        finally:
            await provider.aclose()
        last = spends[-1]
        assert [spend.calls for spend in spends] == list(range(1, outcome.report.calls + 1))
        assert last.actual == outcome.report.actual.total == outcome.this_run.actual > 0
        assert last.baseline == outcome.report.baseline.total == outcome.this_run.baseline
        assert last.blocks == outcome.report.blocks == outcome.this_run.answered

    with serve_in_thread(create_app(Sandbox(SandboxConfig()))) as server:
        anyio.run(run, server.base_url)


@pytest.mark.slow
def test_ctrl_c_on_a_terminal_leaves_the_one_line_message_on_its_own_line(
    shared_data: Path, tmp_path: Path
) -> None:
    sandbox = Sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    hold = HoldAfter(create_app(sandbox), answered=ANSWERED, held=CONCURRENCY)
    with serve_in_thread(hold) as server:  # type: ignore[arg-type]
        command = [
            sys.executable, "-m", "blockpass.cli", "run", str(chapters(shared_data, 2, tmp_path)),
            "--guide", str(shared_data / "guides" / "18f-content-guide"),
            "--provider", "anthropic", "--base-url", server.base_url, "--model", "claude-sonnet-4-5",
            "--mode", "realtime", "--concurrency", str(CONCURRENCY), "--min-blocks", "1",
            "--max-blocks", "6", "--out", str(tmp_path / "out"),
        ]  # fmt: skip
        terminal = Terminal(command, environment(ANTHROPIC_API_KEY=DEFAULT_API_KEY), tmp_path)
        try:
            total = ANSWERED + CONCURRENCY
            wait_for(hold.changed, lambda: hold.arrived == total, "the calls in flight")
            terminal.child.send_signal(signal.SIGINT)
            code, shown = terminal.finish()
        finally:
            hold.release.set()
            if terminal.child.poll() is None:
                terminal.child.kill()
    assert code == 130, shown
    assert "Traceback" not in shown
    before, message = shown.rsplit("blockpass: interrupted", 1)
    # The display has stopped and shown the cursor again, and the message starts a line.
    assert before.endswith("\r\n\x1b[?25h"), before[-200:]
    assert "Run the same command again" in message
