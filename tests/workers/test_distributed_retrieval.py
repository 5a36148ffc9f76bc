"""A submitted run in retrieve mode: the workers send the requests a single-process `run`
sends, byte for byte (the same core, shared units and retrieved units per pack), and need no
index of their own; the outputs are `run`'s."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import anyio
import pytest

from blockpass.cli import main
from blockpass.sandbox import Sandbox, SandboxConfig, create_app, serve_in_thread
from tests.postgres_server import PostgresServer
from tests.test_cli import chapters
from tests.workers.test_distributed_runs import read_run, sent_blocks
from tests.workers.worker_processes import finish, start_worker

pytestmark = pytest.mark.slow

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Message, Receive, Send], Awaitable[None]]

REDHAT = Path("styles") / "RedHat" / "RedHat"


class RequestBodies:
    """ASGI middleware: keeps what each message request asks the model (its system parts
    and messages, or the ``fields`` named), then passes it on."""

    def __init__(self, app: App, fields: tuple[str, ...] = ("system", "messages")) -> None:
        self._app = app
        self._fields = fields
        self.asked: list[str] = []

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/v1/messages":
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = json.loads(b"".join(chunks))
        self.asked.append(json.dumps([body.get(field) for field in self._fields], sort_keys=True))
        replayed = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            # The body once, then what the client does next (a disconnect).
            return replayed.pop() if replayed else await receive()

        await self._app(scope, replay, send)

    def take(self) -> list[str]:
        taken, self.asked = sorted(self.asked), []
        return taken


def guide_part(shared_data: Path, tmp_path: Path) -> Path:
    """Two chapters of the Red Hat guide, whose sections some RedHat rules link to: the
    sandbox applies those rules only where a request carries their section."""
    source = shared_data / "guides" / "redhat-supplementary-style-guide" / "style_guidelines"
    folder = tmp_path / "guide"
    (folder / "style_guidelines").mkdir(parents=True)
    for chapter in ("grammar.adoc", "structure.adoc"):
        shutil.copy(source / chapter, folder / "style_guidelines")
    (folder / "main.adoc").write_text(
        "= Red Hat style, a part\n\n== Style guidelines\n\n"
        "include::style_guidelines/grammar.adoc[leveloffset=+2]\n\n"
        "include::style_guidelines/structure.adoc[leveloffset=+2]\n"
    )
    return folder


def test_a_submitted_retrieve_run_sends_what_run_sends_reports_its_retrieval_and_its_workers_keep_no_index(
    shared_data: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    dsn = postgres_server.new_database()
    sandbox = Sandbox(SandboxConfig(rules=shared_data / REDHAT))
    bodies = RequestBodies(create_app(sandbox))
    worker_cache = tmp_path / "worker-cache"
    with serve_in_thread(bodies) as server:  # type: ignore[arg-type]
        options = [
            str(chapters(shared_data, 3, tmp_path)), "--guide", str(guide_part(shared_data, tmp_path)),
            "--provider", "sandbox", "--model", "claude-sonnet-4-5", "--min-blocks", "1",
            "--max-blocks", "6", "--context", "retrieve", "--cache-dir", str(tmp_path / "cache"),
        ]  # fmt: skip
        assert main(["submit", *options, "--store", dsn, "--run", "rag"]) == 0
        os.environ["XDG_CACHE_HOME"] = str(worker_cache)
        try:
            workers = [
                # No worker dies here: a longer stalled timeout keeps a late heartbeat on a
                # loaded machine from having a live worker's job retried beside it.
                start_worker(
                    dsn, server.base_url, f"w{n}", "--exit-when-done", "--stalled-after", "10"
                )
                for n in (1, 2)
            ]
        finally:
            del os.environ["XDG_CACHE_HOME"]
        for worker in workers:
            finish(worker)
        distributed = bodies.take()
        assert main(["report", "--store", dsn, "--run", "rag", "--out", str(tmp_path / "w")]) == 0
        single = ["run", *options, "--base-url", server.base_url, "--mode", "realtime"]
        assert main([*single, "--out", str(tmp_path / "single")]) == 0
        alone = bodies.take()

    calls, open_starts, blocks, ended = anyio.run(read_run, dsn, "rag")
    assert ended == blocks
    assert not open_starts
    assert set(sent_blocks(calls).values()) == {1}, "no block was sent twice"
    assert distributed == alone, "the workers asked exactly what the single run asked"
    assert any("<retrieved_rules>" in asked for asked in alone), "packs carried their rules"
    assert not worker_cache.exists(), "no worker built or opened an index"
    written = (tmp_path / "w" / "results.jsonl").read_text()
    assert written == (tmp_path / "single" / "results.jsonl").read_text()
    pooled = json.loads((tmp_path / "w" / "report.json").read_text())
    reported = json.loads((tmp_path / "single" / "report.json").read_text())
    assert pooled["baseline_usd"] == reported["baseline_usd"], "priced against the whole guide"
    assert reported["context"]["mode"] == "retrieve"
    assert pooled["context"] == reported["context"], "the same choice, reason and retrieval"
