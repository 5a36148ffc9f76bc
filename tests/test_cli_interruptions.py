"""Ctrl-C and SIGKILL while calls are in flight: nothing answered is lost, nothing sent is hidden.

A served sandbox answers the first few message requests and then holds the next ones, as a
provider still working on them would, until the test ends: at the interruption, exactly
those calls are in flight, and the sandbox has seen (and billed) each of them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import pytest

from blockpass.sandbox import DEFAULT_API_KEY, Sandbox, SandboxConfig, create_app, serve_in_thread
from blockpass.store import open_sqlite_store
from tests.signals import interruptible
from tests.test_cli import chapters, read_store

pytestmark = pytest.mark.slow

if TYPE_CHECKING:
    from blockpass.store import CallRecord, CallStart

ANSWERED = 4
CONCURRENCY = 3
WAIT_SECONDS = 120.0

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]


class HoldAfter:
    """ASGI middleware: answers the first `answered` message requests, holds the next `held`.

    A held request is processed (and counted) by the sandbox; only its response waits for
    `release`. Later requests are answered again, for the restart.
    """

    def __init__(self, app: App, *, answered: int, held: int) -> None:
        self._app = app
        self._held = range(answered + 1, answered + held + 1)
        self.arrived = 0
        self.changed = threading.Condition()
        self.release = threading.Event()

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/messages":
            await self._app(scope, receive, send)
            return
        with self.changed:
            self.arrived += 1
            number = self.arrived
            self.changed.notify_all()
        if number not in self._held:
            await self._app(scope, receive, send)
            return

        async def held_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await anyio.to_thread.run_sync(self.release.wait)
            await send(message)

        await self._app(scope, receive, held_send)


class StoredCallLines:
    """Counts the child's `--verbose` lines, one per call stored with its results."""

    def __init__(self, child: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(child,), daemon=True).start()

    def _read(self, child: subprocess.Popen[str]) -> None:
        assert child.stderr is not None
        for line in child.stderr:
            with self.changed:
                self.lines.append(line)
                self.changed.notify_all()

    @property
    def calls(self) -> int:
        return sum(line.startswith("call ") for line in self.lines)


def wait_for(condition: threading.Condition, ready: Callable[[], bool], what: str) -> None:
    with condition:
        assert condition.wait_for(ready, timeout=WAIT_SECONDS), f"timed out waiting for {what}"


def interrupt_in_flight(
    hold: HoldAfter, command: list[str], environment: dict[str, str], signal_number: int
) -> tuple[StoredCallLines, int]:
    """Run `command` until its calls are answered or held, signal it; its lines, exit code."""
    child = subprocess.Popen(
        command,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=environment,
        preexec_fn=interruptible,
    )
    try:
        stderr = StoredCallLines(child)
        wait_for(stderr.changed, lambda: stderr.calls == ANSWERED, "the answered calls")
        total = ANSWERED + CONCURRENCY
        wait_for(hold.changed, lambda: hold.arrived == total, "the calls in flight")
        child.send_signal(signal_number)
        return stderr, child.wait(timeout=WAIT_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


async def read_calls(out: Path) -> tuple[list[CallRecord], list[CallStart]]:
    store = await open_sqlite_store(out)
    try:
        return await store.calls(), await store.call_starts(open_only=True)
    finally:
        await store.close()


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGKILL], ids=["int", "kill"])
def test_calls_in_flight_at_an_interruption_are_reported_on_restart_at_their_upper_bound(
    signal_number: signal.Signals, shared_data: Path, tmp_path: Path
) -> None:
    sandbox = Sandbox(SandboxConfig(rules=shared_data / "styles" / "Google" / "Google"))
    hold = HoldAfter(create_app(sandbox), answered=ANSWERED, held=CONCURRENCY)
    out = tmp_path / "out"
    with serve_in_thread(hold) as server:  # type: ignore[arg-type]
        command = [
            sys.executable, "-m", "blockpass.cli", "run", str(chapters(shared_data, 2, tmp_path)),
            "--guide", str(shared_data / "guides" / "18f-content-guide"),
            "--provider", "anthropic", "--base-url", server.base_url, "--model", "claude-sonnet-4-5",
            "--mode", "realtime", "--concurrency", str(CONCURRENCY), "--min-blocks", "1",
            "--max-blocks", "6", "--out", str(out),
        ]  # fmt: skip
        environment = {**os.environ, "ANTHROPIC_API_KEY": DEFAULT_API_KEY}
        try:
            stderr, code = interrupt_in_flight(
                hold, [*command, "--verbose"], environment, signal_number
            )
            if signal_number == signal.SIGINT:
                assert code == 130
                wait_for(stderr.changed, lambda: "interrupted" in "".join(stderr.lines), "a line")
            calls, _, _ = anyio.run(read_store, out)
            assert len(calls) == ANSWERED, "every answered call is stored, and only those"

            finished = subprocess.run(
                command, capture_output=True, text=True, timeout=600, check=False, env=environment
            )
            assert finished.returncode == 0, finished.stderr
            requests = sandbox.stats.requests["POST /v1/messages"]
            billed = dict(sandbox.stats.usage)
        finally:
            hold.release.set()
    report = json.loads((out / "report.json").read_text())
    assert report["calls"] + report.get("interrupted_calls", 0) == requests
    assert report["interrupted_calls"] == CONCURRENCY
    calls, interrupted = anyio.run(read_calls, out)
    assert [start.pack_id for start in interrupted] == [
        call["pack_id"] for call in report["interrupted"]
    ]
    bounds = [Decimal(call["usd_at_most"]) for call in report["interrupted"]]
    assert all(bound > 0 for bound in bounds)
    actual = Decimal(report["actual_usd"]["total"])
    assert Decimal(report["at_most_usd"]) == actual + sum(bounds)
    assert "outcome unknown" in finished.stdout
    # The bound holds: what the sandbox billed for the held calls is within it.
    billed_input = sum(
        billed[key]
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    held_input = billed_input - sum(call.usage.input_total for call in calls)
    held_output = billed["output_tokens"] - sum(call.usage.output for call in calls)
    assert 0 < held_input <= sum(call["input_tokens"] for call in report["interrupted"])
    assert 0 < held_output <= sum(call["max_output"] for call in report["interrupted"])
