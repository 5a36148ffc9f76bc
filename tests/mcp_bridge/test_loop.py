"""The tool loop end to end: the official SDKs over real HTTP to the sandbox, which looks
rules up through the tools of real MCP servers (written with the mcp SDK, launched over stdio
or served over streamable HTTP) before it answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from blockpass.errors import ToolServerGone, UserInputError
from blockpass.mcp_bridge.client import open_toolbox
from blockpass.mcp_bridge.loop import LoopEnd, LoopLimits, run_tool_loop
from blockpass.providers.base import (
    AssistantTurn,
    CacheTtl,
    StopReason,
    ToolResultsTurn,
    model_profile,
)
from blockpass.sandbox import ToolUse
from tests.mcp_bridge.support import (
    ANTHROPIC_MODEL,
    CHAT_MODEL,
    REPOSITORY,
    WIRE_APIS,
    http_server,
    pack_request,
    provider_for,
    stdio_server,
)

pytestmark = pytest.mark.anyio


def answered_ids(text: str) -> list[str]:
    return [result["id"] for result in json.loads(text)["results"]]


@pytest.mark.parametrize("model", WIRE_APIS)
async def test_the_loop_looks_rules_up_through_a_stdio_server_and_then_answers_every_block(
    model, start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox()
    provider = provider_for(model, running.server.base_url)
    async with open_toolbox([stdio_server("rules")], cwd=REPOSITORY) as toolbox:
        outcome = await run_tool_loop(
            provider, pack_request(model, guide, rust_paragraphs), toolbox
        )
    await provider.aclose()

    assert outcome.end is LoopEnd.ANSWERED
    assert len(outcome.turns) == 2
    first, second = outcome.turns
    assert first.response.stop_reason is StopReason.TOOL_CALL
    asked = first.response.tool_calls
    assert [call.name for call in asked] == ["search_style_rules"] * len(asked)
    assert {call.arguments["text"] for call in asked} <= set(rust_paragraphs)
    assistant, results = second.request.turns
    assert isinstance(assistant, AssistantTurn)
    assert assistant.tool_calls == asked
    assert isinstance(results, ToolResultsTurn)
    assert [result.call_id for result in results.results] == [call.id for call in asked]
    assert any(result.output.startswith("Google.") for result in results.results)
    assert answered_ids(outcome.response.text) == ["b1", "b2"]
    # The guide and the tools are the cached prefix: the second turn reads them.
    assert second.response.usage.cache_read > 0
    assert outcome.usage == first.response.usage + second.response.usage
    assert outcome.tool_calls == len(asked)


@pytest.mark.parametrize("model", WIRE_APIS)
async def test_the_loop_runs_against_a_server_over_streamable_http(
    model, start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox()
    provider = provider_for(model, running.server.base_url)
    with http_server("rules") as address:
        async with open_toolbox([address]) as toolbox:
            outcome = await run_tool_loop(
                provider, pack_request(model, guide, rust_paragraphs), toolbox
            )
    await provider.aclose()
    assert outcome.end is LoopEnd.ANSWERED
    assert [len(turn.response.tool_calls) > 0 for turn in outcome.turns] == [True, False]
    assert answered_ids(outcome.response.text) == ["b1", "b2"]


async def test_the_newest_tool_results_carry_the_one_moving_cache_breakpoint(
    start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox(ToolUse(rounds=3))
    provider = provider_for(ANTHROPIC_MODEL, running.server.base_url)
    async with open_toolbox([stdio_server("rules")], cwd=REPOSITORY) as toolbox:
        outcome = await run_tool_loop(
            provider, pack_request(ANTHROPIC_MODEL, guide, rust_paragraphs), toolbox
        )
    last = outcome.turns[-1]
    body = provider.request_body(last.request)
    await provider.aclose()
    marked = [
        (index, block["type"])
        for index, message in enumerate(body["messages"])
        for block in message["content"]
        if isinstance(block, dict) and "cache_control" in block
    ]
    assert len(outcome.turns) == 4
    assert marked == [(len(body["messages"]) - 1, "tool_result")]
    ttls = [turn.cache_ttl for turn in last.request.turns if isinstance(turn, ToolResultsTurn)]
    assert ttls == [None, None, CacheTtl.FIVE_MINUTES]
    # Each turn reads what the turn before wrote, conversation included.
    reads = [turn.response.usage.cache_read for turn in outcome.turns]
    assert reads == sorted(reads)
    assert reads[-1] > reads[1] > 0


async def test_a_tool_that_raises_reaches_the_model_as_a_tool_error_and_the_loop_goes_on(
    start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox()
    provider = provider_for(ANTHROPIC_MODEL, running.server.base_url)
    async with open_toolbox([stdio_server("hostile")], cwd=REPOSITORY) as toolbox:
        outcome = await run_tool_loop(
            provider, pack_request(ANTHROPIC_MODEL, guide, rust_paragraphs), toolbox
        )
    body = provider.request_body(outcome.turns[-1].request)
    await provider.aclose()
    assert outcome.end is LoopEnd.ANSWERED
    tool_results = body["messages"][-1]["content"]
    assert [block["is_error"] for block in tool_results] == [True] * len(tool_results)
    assert "Error executing tool search_style_rules" in tool_results[0]["content"]


async def test_a_tool_that_never_answers_becomes_a_timeout_error_for_the_model(
    start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox(ToolUse(lookup_tools=("stall",)))
    provider = provider_for(CHAT_MODEL, running.server.base_url)
    async with open_toolbox([stdio_server("hostile")], cwd=REPOSITORY, call_timeout=0.5) as toolbox:
        outcome = await run_tool_loop(
            provider, pack_request(CHAT_MODEL, guide, rust_paragraphs), toolbox
        )
    body = provider.request_body(outcome.turns[-1].request)
    await provider.aclose()
    assert outcome.end is LoopEnd.ANSWERED
    tool_messages = [message for message in body["messages"] if message["role"] == "tool"]
    # Chat Completions has no error flag: the text says it.
    assert tool_messages
    assert all(
        message["content"] == "the tool did not answer within 0.5 s" for message in tool_messages
    )


async def test_a_server_that_exits_mid_loop_ends_it_with_one_clear_error(
    start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox(ToolUse(lookup_tools=("quit",)))
    provider = provider_for(ANTHROPIC_MODEL, running.server.base_url)
    async with open_toolbox([stdio_server("hostile")], cwd=REPOSITORY) as toolbox:
        with pytest.raises(ToolServerGone, match="hostile' went away") as raised:
            await run_tool_loop(
                provider, pack_request(ANTHROPIC_MODEL, guide, rust_paragraphs), toolbox
            )
    await provider.aclose()
    assert raised.value.retryable is False


@pytest.mark.parametrize(
    ("limits", "end", "turns"),
    [
        (LoopLimits(max_turns=3), LoopEnd.TURN_CAP, 3),
        (LoopLimits(max_tool_calls=3), LoopEnd.TOOL_CALL_CAP, 2),
        (LoopLimits(max_tokens=1), LoopEnd.TOKEN_CAP, 1),
    ],
)
async def test_a_model_that_never_stops_asking_for_tools_is_stopped_by_a_cap_that_says_which(
    limits, end, turns, start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox(ToolUse(rounds=1_000_000))
    provider = provider_for(ANTHROPIC_MODEL, running.server.base_url)
    async with open_toolbox([stdio_server("rules")], cwd=REPOSITORY) as toolbox:
        outcome = await run_tool_loop(
            provider,
            pack_request(ANTHROPIC_MODEL, guide, rust_paragraphs),
            toolbox,
            limits=limits,
        )
    await provider.aclose()
    assert outcome.end is end
    assert len(outcome.turns) == turns
    assert outcome.response.tool_calls  # the last turn asked, and was not answered
    assert outcome.tool_calls == 2 * (turns - 1)


async def test_tools_of_the_same_name_on_two_servers_get_their_server_as_prefix(
    start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox(ToolUse(lookup_tools=("s2_search_style_rules",)))
    provider = provider_for(ANTHROPIC_MODEL, running.server.base_url)
    async with open_toolbox(
        [stdio_server("rules"), stdio_server("twin")], cwd=REPOSITORY
    ) as toolbox:
        names = [tool.name for tool in (await toolbox.catalog()).definitions]
        outcome = await run_tool_loop(
            provider, pack_request(ANTHROPIC_MODEL, guide, rust_paragraphs), toolbox
        )
    await provider.aclose()
    assert names == [
        "add_tool",
        "s1_count_words",
        "s1_search_style_rules",
        "s2_count_words",
        "s2_search_style_rules",
    ]
    results = outcome.turns[-1].request.turns[-1]
    assert isinstance(results, ToolResultsTurn)
    assert {result.output for result in results.results} == {"twin: no rule found"}


async def test_a_schema_strict_mode_rejects_is_flagged_and_sent_without_strict(
    start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox(ToolUse(lookup_tools=("bounded",)))
    provider = provider_for(ANTHROPIC_MODEL, running.server.base_url)
    async with open_toolbox([stdio_server("hostile")], cwd=REPOSITORY) as toolbox:
        outcome = await run_tool_loop(
            provider, pack_request(ANTHROPIC_MODEL, guide, rust_paragraphs), toolbox
        )
    body = provider.request_body(outcome.turns[0].request)
    await provider.aclose()
    flagged = {tool.name: tool.reasons for tool in outcome.flagged}
    assert flagged["bounded"] == (
        "$: additionalProperties is not false",
        "$: not required: note",
        "$.properties.text: unsupported keyword maxLength",
    )
    assert next(tool for tool in body["tools"] if tool["name"] == "bounded")["strict"] is False
    # Sent as it is, the sandbox (which checks strict schemas as the API does) takes it.
    assert outcome.end is LoopEnd.ANSWERED


async def test_a_server_that_changes_its_tools_mid_run_is_listed_again(
    start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox(ToolUse(lookup_tools=("add_tool",)))
    provider = provider_for(ANTHROPIC_MODEL, running.server.base_url)
    async with open_toolbox([stdio_server("rules")], cwd=REPOSITORY) as toolbox:
        outcome = await run_tool_loop(
            provider, pack_request(ANTHROPIC_MODEL, guide, rust_paragraphs[:1]), toolbox
        )
        listings = toolbox.listings
    await provider.aclose()
    first, second = (turn.request.tools for turn in outcome.turns)
    assert "late_tool" not in [tool.name for tool in first]
    assert "late_tool" in [tool.name for tool in second]
    assert listings == 2


async def test_a_model_that_takes_no_tools_is_refused_before_any_call(
    start_rules_sandbox, guide, rust_paragraphs
) -> None:
    running = start_rules_sandbox()
    local = model_profile("smollm2-135m-instruct")
    provider = provider_for(ANTHROPIC_MODEL, running.server.base_url, profile=local)
    async with open_toolbox([stdio_server("rules")], cwd=REPOSITORY) as toolbox:
        with pytest.raises(UserInputError, match="cannot call tools"):
            await run_tool_loop(
                provider, pack_request(ANTHROPIC_MODEL, guide, rust_paragraphs), toolbox
            )
    await provider.aclose()
    assert running.sandbox.stats.requests["POST /v1/messages"] == 0


async def test_a_server_that_cannot_be_started_is_one_clear_user_error(tmp_path: Path) -> None:
    from blockpass.mcp_bridge.client import parse_server_address

    with pytest.raises(UserInputError, match="--mcp 'stdio:no-such-command-here': cannot connect"):
        async with open_toolbox([parse_server_address("stdio:no-such-command-here")]):
            pass
