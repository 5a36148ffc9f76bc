"""Runs whose packs go through a tool loop on MCP servers: every turn a stored call, paid for
in the report, caps sending blocks back, batch mode refused, a resumed run paying nothing."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from blockpass.blocks import Outcome
from blockpass.cli import main
from blockpass.errors import UserInputError
from blockpass.execution.packwork import ExecutionSettings
from blockpass.ledger import TOOL_TURN
from blockpass.mcp_bridge.loop import LoopLimits
from blockpass.pipeline import JobOutcome, JobSpec, Mode, run_job
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.base import Provider
from blockpass.sandbox import DEFAULT_API_KEY, ToolUse
from blockpass.store import open_run_store
from tests.conftest import GUIDE_PAGES, SHARED_DATA
from tests.mcp_bridge.support import REPOSITORY, stdio_server
from tests.sandbox.support import RunningSandbox

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-4-5"


@pytest.fixture
async def sandbox_provider(start_rules_sandbox) -> AsyncIterator[Callable[..., Provider]]:
    """Providers on sandboxes whose responder looks rules up through the tools offered."""
    opened: list[Provider] = []

    def open_one(tool_use: ToolUse | None = None) -> Provider:
        running: RunningSandbox = start_rules_sandbox(tool_use)
        provider = open_adapter(
            model_profile(MODEL),
            api_key=DEFAULT_API_KEY,
            base_url=running.server.base_url,
            name="sandbox",
        )
        opened.append(provider)
        return provider

    yield open_one
    for provider in opened:
        await provider.aclose()


def job(tmp_path: Path, paragraphs: list[str], **options: object) -> JobSpec:
    guide = SHARED_DATA / "guides" / "18f-content-guide" / "our-approach" / GUIDE_PAGES[0]
    document = tmp_path / "doc.md"
    document.write_text("\n\n".join(paragraphs) + "\n")
    settings = ExecutionSettings(min_blocks=1, max_blocks=1, max_attempts=2, concurrency=2)
    return JobSpec(
        inputs=[document],
        guide=guide,
        out_dir=tmp_path / "out",
        execution=settings,
        mcp_servers=(stdio_server("rules"),),
        **options,  # type: ignore[arg-type]
    )


async def run(spec: JobSpec, provider: Provider) -> JobOutcome:
    return await run_job(spec, provider, load_prices())


async def test_each_tool_turn_is_a_stored_call_with_its_usage_in_the_report(
    sandbox_provider, tmp_path: Path, rust_paragraphs: list[str]
) -> None:
    provider = sandbox_provider()
    outcome = await run(job(tmp_path, rust_paragraphs), provider)

    async with open_run_store(tmp_path / "out") as store:
        calls = await store.calls()
        results = await store.results()
        open_starts = await store.call_starts(open_only=True)
    # One turn of lookups, then the answer, for each of the two one-block packs.
    assert sorted(call.status for call in calls) == ["ok", "ok", TOOL_TURN, TOOL_TURN]
    assert all(call.usage.output > 0 for call in calls)
    assert open_starts == []
    assert [result.outcome for result in results.values()] == [Outcome.RESULT] * 2
    assert outcome.report.calls == 4
    assert outcome.report.usage == sum((call.usage for call in calls), type(calls[0].usage)())
    assert outcome.report.by_status[TOOL_TURN].calls == 2
    # The answering turn read the lookup turn's conversation from the cache.
    answers = [call for call in calls if call.status == "ok"]
    assert all(call.usage.cache_read > 0 for call in answers)


async def test_a_loop_stopped_by_its_turn_cap_fails_its_blocks_with_the_reason_and_keeps_the_turns(
    sandbox_provider, tmp_path: Path, rust_paragraphs: list[str]
) -> None:
    provider = sandbox_provider(ToolUse(rounds=100))
    spec = job(tmp_path, rust_paragraphs[:1], tool_limits=LoopLimits(max_turns=2))
    outcome = await run(spec, provider)

    async with open_run_store(tmp_path / "out") as store:
        calls = await store.calls()
        (result,) = (await store.results()).values()
    # Two attempts of two turns each, all paid for and recorded.
    assert [call.status for call in calls] == [TOOL_TURN] * 4
    assert result.outcome is Outcome.FAILED
    assert "tool loop stopped: turn_cap" in result.reason
    assert outcome.report.calls == 4


async def test_batch_mode_with_mcp_servers_is_refused_before_anything_is_read(
    sandbox_provider, tmp_path: Path, rust_paragraphs: list[str]
) -> None:
    provider = sandbox_provider()
    with pytest.raises(UserInputError, match="--mcp needs --mode realtime"):
        await run(job(tmp_path, rust_paragraphs, mode=Mode.BATCH), provider)
    assert not (tmp_path / "out").exists()


async def test_a_finished_tool_loop_run_started_again_pays_for_nothing(
    sandbox_provider, tmp_path: Path, rust_paragraphs: list[str]
) -> None:
    provider = sandbox_provider()
    spec = job(tmp_path, rust_paragraphs)
    first = await run(spec, provider)
    again = await run(spec, provider)

    assert again.this_run.calls == 0
    assert again.report.actual == first.report.actual
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["calls"] == first.report.calls


RUN = [
    "run",
    str(REPOSITORY / "examples" / "sample.md"),
    "--guide",
    str(REPOSITORY / "examples" / "guide.md"),
    "--provider",
    "sandbox",
    "--model",
    MODEL,
]


def test_a_run_with_mcp_counts_its_tool_turns_as_calls_and_not_as_waste(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = f"stdio:{sys.executable} -m tests.mcp_bridge.servers rules"
    out = tmp_path / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPOSITORY)  # where the launched test server finds its module
        assert main([*RUN, "--mcp", server, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "calls             2 (ok 1, tool_turn 1; 0 in batches)" in printed
    assert "retries/wasted    $0.000000 in 0 calls" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["calls"] == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--mcp", "stdio:unused", "--mode", "batch"], "--mcp needs --mode realtime"),
        (["--mcp", "ftp://example.org"], "--mcp 'ftp://example.org': give 'stdio:COMMAND ARGS'"),
        (["--mcp", "stdio:"], "--mcp 'stdio:'"),
    ],
)
def test_bad_mcp_options_are_refused_in_one_line(
    options: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*RUN, *options, "--out", str(tmp_path / "out")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"blockpass: error: {message}")
