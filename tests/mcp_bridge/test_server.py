"""``blockpass mcp serve`` against clients nobody here wrote (the MCP Inspector CLI from the
npm registry, pinned in ``.ci/npm``) and against blockpass's own client running a job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blockpass.cli import main
from blockpass.ledger import TOOL_TURN
from blockpass.mcp_bridge.client import parse_server_address
from blockpass.pipeline import JobSpec, run_job
from blockpass.prices import load_prices
from blockpass.store import open_run_store
from tests.mcp_bridge.conftest import PendingRun
from tests.mcp_bridge.support import REPOSITORY, SOURCE, mcp_serve

pytestmark = pytest.mark.anyio

INSPECTOR = REPOSITORY / ".ci" / "npm" / "node_modules" / ".bin" / "mcp-inspector"
GUIDE = REPOSITORY / "examples" / "guide.md"
TOOLS = {
    "get_block_batch",
    "get_schema_for_block_type",
    "lookup_previous_results",
    "search_style_rules",
    "submit_results",
}


@pytest.fixture
def inspector() -> Path:
    if not INSPECTOR.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is absent: the MCP Inspector cannot be installed")
        message = "the MCP Inspector is not installed: run `npm ci --prefix .ci/npm` (.ci/run does)"
        if os.environ.get("BLOCKPASS_REQUIRE_NPM_SERVERS"):
            pytest.fail(message)
        pytest.skip(message)
    return INSPECTOR


@pytest.fixture
def served(pending_run: PendingRun) -> Iterator[str]:
    """``blockpass mcp serve --http 0`` on the pending run: its URL."""
    with mcp_serve("--out", str(pending_run.spec.out_dir), "--guide", str(GUIDE)) as url:
        yield url


def inspect(inspector: Path, url: str, *arguments: str) -> dict[str, Any]:
    """One Inspector CLI call; its JSON answer (tool errors included)."""
    done = subprocess.run(
        [str(inspector), "--cli", url, *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # The answer, then (for a tool error) a line saying the call failed: the first is read.
    answer: dict[str, Any] = json.JSONDecoder().raw_decode(done.stdout.lstrip())[0]
    return answer


def call(inspector: Path, url: str, tool: str, **arguments: str) -> dict[str, Any]:
    pairs = [f"{name}={value}" for name, value in arguments.items()]
    given = ["--tool-arg", *pairs] if pairs else []
    return inspect(inspector, url, "--method", "tools/call", "--tool-name", tool, *given)


@pytest.mark.slow
async def test_the_mcp_inspector_lists_and_calls_all_five_tools(
    inspector: Path, served: str, pending_run: PendingRun
) -> None:
    listed = inspect(inspector, served, "--method", "tools/list")["tools"]
    assert {tool["name"] for tool in listed} == TOOLS
    assert all(
        tool["inputSchema"]["type"] == tool["outputSchema"]["type"] == "object" for tool in listed
    )

    found = call(inspector, served, "search_style_rules", text="we will utilize it", k="2")
    best = found["structuredContent"]["rules"][0]
    assert best["id"] == "guide.md#plain-language"

    schema = call(inspector, served, "get_schema_for_block_type", kind="paragraph")
    assert "results" in schema["structuredContent"]["result_schema"]["properties"]

    run = pending_run.spec.out_dir.name
    batch = call(inspector, served, "get_block_batch", run=run, max_blocks="2")["structuredContent"]
    assert [block["id"] for block in batch["blocks"]] == ["b1", "b2"]
    assert batch["pending"] == pending_run.blocks

    results = json.dumps([{"id": "b1", "verdict": "ok"}, {"id": "b2", "verdict": "ok"}])
    submitted = call(
        inspector, served, "submit_results", batch_id=batch["batch_id"], results=results
    )
    assert submitted["structuredContent"]["stored"] == ["b1", "b2"]

    block_id = batch["blocks"][0]["block_id"]
    previous = call(inspector, served, "lookup_previous_results", block_id=block_id)
    assert previous["structuredContent"]["results"][0]["verdict"] == "ok"

    report = inspect(
        inspector, served, "--method", "resources/read", "--uri", "blockpass://run/report"
    )
    assert "contents" in report


@pytest.mark.slow
@pytest.mark.parametrize(
    ("tool", "arguments", "error"),
    [
        ("search_style_rules", {"text": "x", "k": "500"}, "k must be a whole number from 1 to 20"),
        ("search_style_rules", {"text": " "}, "text must be a non-empty string"),
        ("get_block_batch", {"run": "another-run", "max_blocks": "1"}, "unknown run 'another-run'"),
        ("get_block_batch", {"run": "run"}, "give budget_tokens, max_blocks or both"),
        ("get_block_batch", {"run": "run", "max_blocks": "100000"}, "max_blocks must be from 1"),
        ("get_schema_for_block_type", {"kind": "poem"}, "unknown block kind 'poem'"),
        ("lookup_previous_results", {}, "give exactly one of content_hash and block_id"),
        ("submit_results", {"batch_id": "forged", "results": "[]"}, "unknown batch id 'forged'"),
    ],
)
async def test_bad_arguments_are_tool_errors_that_say_what_is_wrong(
    inspector: Path, served: str, tool: str, arguments: dict[str, str], error: str
) -> None:
    answer = call(inspector, served, tool, **arguments)
    assert answer["isError"] is True
    assert error in answer["content"][0]["text"]


@pytest.mark.slow
async def test_blockpass_runs_a_job_with_its_own_server_as_the_tool_source(
    pending_run: PendingRun, start_rules_sandbox, tmp_path: Path, rust_paragraphs: list[str]
) -> None:
    document = tmp_path / "job.md"
    document.write_text("\n\n".join(rust_paragraphs) + "\n")
    own = parse_server_address(
        f"stdio:env PYTHONPATH={SOURCE} {sys.executable} -m blockpass.cli mcp serve"
        f" --out {pending_run.spec.out_dir} --guide {GUIDE}"
    )
    spec = JobSpec(inputs=[document], guide=GUIDE, out_dir=tmp_path / "job", mcp_servers=(own,))
    outcome = await run_job(spec, pending_run.provider, load_prices())

    async with open_run_store(tmp_path / "job") as store:
        statuses = [call.status for call in await store.calls()]
    assert statuses == [TOOL_TURN, "ok"]
    assert outcome.outcomes == {"result": len(rust_paragraphs)}


def test_serving_a_folder_that_holds_no_run_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["mcp", "serve", "--out", str(tmp_path / "nothing")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("blockpass: error: ")
    assert "holds no run" in line
