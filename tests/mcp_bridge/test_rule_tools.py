"""Agentic runs: the core cached, and the rules looked up through blockpass's own
``search_style_rules``, whose bad arguments are tool errors the model can read, alone or
beside the tools of MCP servers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from blockpass.context import ContextMode
from blockpass.errors import UserInputError
from blockpass.guide_retrieval import GuideIndex, open_guide_index
from blockpass.ledger import TOOL_TURN
from blockpass.mcp_bridge.client import open_toolbox, parse_server_address
from blockpass.mcp_bridge.rule_tools import MAX_K, SEARCH_TOOL, StyleRuleTools
from blockpass.pipeline import JobSpec, Mode, RetrievalSettings, read_job_inputs, run_job
from blockpass.prices import load_prices
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import ModelRequest, ToolCall
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from blockpass.store import open_run_store
from tests.execution.wrapped import RecordingProvider
from tests.mcp_bridge.support import REPOSITORY, provider_for, stdio_server
from tests.sandbox.support import StartSandbox

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

PARAGRAPHS = (
    "You can utilize the widget service in order to configure the cluster.",
    "Please click on the Save button, and then you will see the results of the query.",
    "It is very important to note that the configuration file must be edited carefully.",
)


@pytest.fixture
async def provider(
    start_sandbox: StartSandbox, google_rules: Path
) -> AsyncIterator[RecordingProvider]:
    running = start_sandbox(SandboxConfig(rules=google_rules))
    inner = open_adapter(
        model_profile("claude-sonnet-4-5"),
        api_key=DEFAULT_API_KEY,
        base_url=running.server.base_url,
        name="sandbox",
    )
    assert isinstance(inner, AnthropicProvider)
    yield RecordingProvider(inner)
    await inner.aclose()


@pytest.fixture
def guide_index(tmp_path: Path, small_guide: Path) -> GuideIndex:
    """The small guide's index, as an agentic run over it opens it."""
    spec = agentic_spec(tmp_path, small_guide)
    _, _, task, _ = read_job_inputs(spec)
    return open_guide_index(
        task, small_guide, cache_dir=tmp_path / "indexes", settings=spec.retrieval
    )


def agentic_spec(tmp_path: Path, guide: Path, **options: object) -> JobSpec:
    document = tmp_path / "doc.md"
    document.write_text("\n\n".join(PARAGRAPHS) + "\n")
    return JobSpec(
        inputs=[document],
        guide=guide,
        out_dir=tmp_path / "out",
        context=ContextMode.AGENTIC,
        retrieval=RetrievalSettings(k=3, wide_k=6),
        index_dir=tmp_path / "indexes",
        **options,  # type: ignore[arg-type]
    )


async def test_an_agentic_run_caches_the_core_and_looks_rules_up_through_its_own_tool(
    provider: RecordingProvider, tmp_path: Path, small_guide: Path
) -> None:
    outcome = await run_job(agentic_spec(tmp_path, small_guide), provider, load_prices())

    first, answer = provider.requests
    assert [tool.name for tool in first.tools] == [SEARCH_TOOL]
    assert 'part="core"' in first.parts[0].text
    assert "<rule id=" not in "".join(part.text for part in first.parts[1:])
    # The answering turn carries what the lookups found, as retrieve mode's units.
    looked_up = "".join(
        result.output for turn in answer.turns for result in getattr(turn, "results", ())
    )
    assert '<rule id="' in looked_up
    async with open_run_store(tmp_path / "out") as store:
        calls = await store.calls()
        settings = await store.settings()
    assert [call.status for call in calls] == [TOOL_TURN, "ok"]
    assert settings["context"] == "agentic"
    assert outcome.outcomes == {"result": len(PARAGRAPHS)}
    assert outcome.report.retry_calls == 0


async def test_agentic_mode_is_refused_with_batch_mode(
    provider: RecordingProvider, tmp_path: Path, small_guide: Path
) -> None:
    with pytest.raises(UserInputError, match="agentic mode needs --mode realtime"):
        await run_job(agentic_spec(tmp_path, small_guide, mode=Mode.BATCH), provider, load_prices())
    assert provider.requests == []


def tools_bytes(request: ModelRequest) -> str:
    body = provider_for(request.model, "http://127.0.0.1:9").request_body(request)
    return json.dumps(body["tools"], ensure_ascii=False)


async def test_an_agentic_run_with_an_npm_mcp_server_offers_one_sorted_catalog_the_same_bytes_on_every_turn(
    provider: RecordingProvider, tmp_path: Path, small_guide: Path, everything: str
) -> None:
    spec = agentic_spec(tmp_path, small_guide, mcp_servers=(parse_server_address(everything),))
    outcome = await run_job(spec, provider, load_prices())

    names = [tool.name for tool in provider.requests[0].tools]
    assert SEARCH_TOOL in names
    assert "echo" in names
    assert names == sorted(names)
    assert len({tools_bytes(request) for request in provider.requests}) == 1
    # The responder looked the rules up through blockpass's own search, served in-process.
    looked_up = [
        result.output
        for request in provider.requests
        for turn in request.turns
        for result in getattr(turn, "results", ())
    ]
    assert looked_up
    assert all('<rule id="' in output for output in looked_up)
    assert outcome.outcomes == {"result": len(PARAGRAPHS)}


async def test_a_server_tool_named_like_blockpasss_own_search_is_renamed_and_each_is_called_where_it_lives(
    guide_index: GuideIndex,
) -> None:
    own = StyleRuleTools(guide_index.index, core=guide_index.core_ids)
    arguments = {"text": "we will utilize it", "k": 2}
    async with open_toolbox([stdio_server("rules")], own=own, cwd=REPOSITORY) as toolbox:
        catalog = await toolbox.catalog()
        ours = await toolbox.call(ToolCall(id="c1", name=SEARCH_TOOL, arguments=arguments))
        theirs = await toolbox.call(
            ToolCall(id="c2", name=f"s1_{SEARCH_TOOL}", arguments=arguments)
        )
    assert list(catalog.names) == [
        "add_tool",
        "count_words",
        f"s1_{SEARCH_TOOL}",
        SEARCH_TOOL,
    ]
    assert ours.output.count('<rule id="') == 2
    assert theirs.output.startswith("Google.")


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"k": 3}, "text must be a non-empty string"),
        ({"text": "   ", "k": 3}, "text must be a non-empty string"),
        ({"text": "utilize", "k": MAX_K + 1}, f"k must be a whole number from 1 to {MAX_K}"),
        ({"text": "utilize", "k": 0}, "k must be a whole number"),
        ({"text": "utilize", "k": True}, "k must be a whole number"),
        ({"text": "utilize", "k": "3"}, "k must be a whole number"),
        ({"text": "utilize", "k": 3, "filter": "x"}, "unknown argument 'filter'"),
    ],
)
async def test_bad_search_arguments_are_tool_errors_that_say_what_is_wrong(
    guide_index: GuideIndex, arguments: dict[str, object], error: str
) -> None:
    tools = StyleRuleTools(guide_index.index, core=guide_index.core_ids)
    result = await tools.call(ToolCall(id="c1", name=SEARCH_TOOL, arguments=arguments))
    assert result.is_error
    assert result.output.startswith(error)
    found = await tools.call(
        ToolCall(id="c2", name=SEARCH_TOOL, arguments={"text": "utilize", "k": 2})
    )
    assert not found.is_error
    assert found.output.count('<rule id="') == 2
    assert not any(f'<rule id="{unit_id}"' in found.output for unit_id in guide_index.core_ids)
