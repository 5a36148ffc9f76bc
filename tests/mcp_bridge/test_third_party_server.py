"""The tool loop against an MCP server nobody here wrote: the reference "everything" server
from the npm registry (``@modelcontextprotocol/server-everything``, pinned in
``.ci/npm/package-lock.json`` and installed by ``.ci/run`` with ``npm ci --prefix .ci/npm``)."""

from __future__ import annotations

import json

import pytest

from blockpass.mcp_bridge.client import open_toolbox, parse_server_address
from blockpass.mcp_bridge.loop import LoopEnd, run_tool_loop
from blockpass.sandbox import ToolUse
from tests.mcp_bridge.support import WIRE_APIS, pack_request, provider_for

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("model", WIRE_APIS)
async def test_the_loop_calls_the_tools_of_the_npm_everything_server_and_answers(
    model, everything, start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox(ToolUse(lookup_tools=("echo",)))
    provider = provider_for(model, running.server.base_url)
    async with open_toolbox([parse_server_address(everything)]) as toolbox:
        catalog = await toolbox.catalog()
        outcome = await run_tool_loop(
            provider, pack_request(model, guide, rust_paragraphs), toolbox
        )
    await provider.aclose()

    assert "echo" in [tool.name for tool in catalog.definitions]
    assert outcome.end is LoopEnd.ANSWERED
    first, second = outcome.turns
    echoed = second.request.turns[-1].results
    assert {result.output for result in echoed} <= {f"Echo: {text}" for text in rust_paragraphs}
    assert len(echoed) == len(first.response.tool_calls) > 0
    assert [result["id"] for result in json.loads(outcome.response.text)["results"]] == ["b1", "b2"]
