"""``blockpass mcp serve`` on a run in PostgreSQL, as on a run directory; a batch it hands out
lives in the run store, so another server process takes its results after the first one
stopped."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from blockpass.blocks import BY_AGENT, Block, BlockKind
from blockpass.cli import main
from blockpass.mcp_bridge.client import open_toolbox, parse_server_address
from blockpass.providers.base import ToolCall
from blockpass.store.postgres import open_postgres_store
from tests.mcp_bridge.support import mcp_serve
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.anyio


async def call(url: str, tool: str, **arguments: Any) -> dict[str, Any]:
    """One tool call through blockpass's own MCP client; the tool's structured answer."""
    async with open_toolbox([parse_server_address(url)]) as toolbox:
        result = await toolbox.call(ToolCall(id="c1", name=tool, arguments=arguments))
    assert not result.is_error, result.output
    answer: dict[str, Any] = json.loads(result.output)
    return answer


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresRun:
    dsn: str
    name: str
    block_ids: list[str]


@pytest.fixture
async def postgres_run(postgres_server: PostgresServer, shared_data: Path) -> PostgresRun:
    """A run in PostgreSQL whose blocks (rust-book paragraphs) are all pending."""
    chapter = shared_data / "corpora" / "rust-book" / "ch01-02-hello-world.md"
    paragraphs = [part for part in chapter.read_text().split("\n\n") if part[:1].isalpha()]
    blocks = [
        Block.create(document_id="hello.md", index=index, kind=BlockKind.PARAGRAPH, text=text)
        for index, text in enumerate(paragraphs[:4])
    ]
    dsn, run = postgres_server.dsn(), f"mcp-{uuid.uuid4().hex[:10]}"
    store = await open_postgres_store(dsn, run=run)
    try:
        await store.open_run(fingerprint="fp", settings={})
        await store.put_blocks(blocks)
    finally:
        await store.close()
    return PostgresRun(dsn=dsn, name=run, block_ids=[block.id for block in blocks])


@pytest.mark.slow
async def test_a_postgresql_run_is_served_and_a_batch_is_submitted_through_a_server_started_later(
    postgres_run: PostgresRun,
) -> None:
    dsn, run = postgres_run.dsn, postgres_run.name
    with mcp_serve("--out", dsn, "--run", run) as url:
        batch = await call(url, "get_block_batch", run=run, max_blocks=3)
    assert [block["id"] for block in batch["blocks"]] == ["b1", "b2", "b3"]
    assert batch["pending"] == 4

    answers = [{"id": "b1", "verdict": "ok"}, {"id": "b3", "verdict": "ok"}]
    with mcp_serve("--out", dsn, "--run", run) as url:
        submitted = await call(url, "submit_results", batch_id=batch["batch_id"], results=answers)
        after = await call(url, "get_block_batch", run=run, max_blocks=3)
    assert submitted["stored"] == ["b1", "b3"]
    assert submitted["missing"] == ["b2"]
    # What is left: the block of the batch without a result, and the one never handed out.
    assert [block["block_id"] for block in after["blocks"]] == [
        postgres_run.block_ids[1],
        postgres_run.block_ids[3],
    ]

    store = await open_postgres_store(dsn, run=run)
    try:
        results = await store.results()
    finally:
        await store.close()
    assert set(results) == {postgres_run.block_ids[0], postgres_run.block_ids[2]}
    assert {result.reason for result in results.values()} == {BY_AGENT}


def test_a_postgresql_store_without_a_run_name_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mcp", "serve", "--out", "postgresql://127.0.0.1:9/blockpass"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "blockpass: error: --out postgresql://127.0.0.1:9/blockpass: a PostgreSQL store needs"
        " --run NAME"
    )
