"""The tool loop end to end: the official SDKs over real HTTP to the sandbox, which looks
rules up through the tools of real MCP servers (written with the mcp SDK, launched over stdio
or served over streamable HTTP) before it answers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from blockpass.errors import ToolServerGone, UserInputError
from blockpass.mcp_bridge.client import ServerAddress, open_toolbox, parse_server_address
from blockpass.mcp_bridge.loop import (
    MIN_TURNS_SEEN,
    Continuations,
    LoopEnd,
    LoopLimits,
    LoopOutcome,
    LoopTurn,
    run_tool_loop,
)
from blockpass.providers.base import (
    AssistantTurn,
    CacheTtl,
    ModelProfile,
    OutputMechanism,
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
from tests.sandbox.support import RunningSandbox

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Ran:
    """A loop's outcome, each turn's request body as the adapter sent it, the turns in the
    order ``on_turn`` heard of them, and the sandbox."""

    outcome: LoopOutcome
    bodies: list[dict[str, Any]]
    heard: list[LoopTurn]
    sandbox: RunningSandbox


RunLoop = Callable[..., Awaitable[Ran]]


@pytest.fixture
def heard() -> list[LoopTurn]:
    """The turns the last loop reported through ``on_turn``, a failed loop's included."""
    return []


@pytest.fixture
def run_loop(start_rules_sandbox, guide, rust_paragraphs, heard) -> RunLoop:
    async def run(
        servers: Sequence[ServerAddress],
        *,
        model: str = ANTHROPIC_MODEL,
        tool_use: ToolUse | None = None,
        limits: LoopLimits | None = None,
        call_timeout: float = 10.0,
        blocks: int = 2,
        profile: ModelProfile | None = None,
        continuations: Continuations | None = None,
    ) -> Ran:
        running = start_rules_sandbox(tool_use)
        provider = provider_for(model, running.server.base_url, profile)
        request = pack_request(model, guide, rust_paragraphs[:blocks])
        heard.clear()

        async def hear(turn: LoopTurn) -> None:
            heard.append(turn)

        try:
            async with open_toolbox(servers, cwd=REPOSITORY, call_timeout=call_timeout) as tools:
                outcome = await run_tool_loop(
                    provider,
                    request,
                    tools,
                    limits=limits or LoopLimits(),
                    continuations=continuations,
                    on_turn=hear,
                )
        finally:
            await provider.aclose()
        bodies = [provider.request_body(turn.request) for turn in outcome.turns]  # type: ignore[attr-defined]
        return Ran(outcome=outcome, bodies=bodies, heard=list(heard), sandbox=running)

    return run


def answered_ids(text: str) -> list[str]:
    return [result["id"] for result in json.loads(text)["results"]]


def last_results(outcome: LoopOutcome) -> ToolResultsTurn:
    results = outcome.turns[-1].request.turns[-1]
    assert isinstance(results, ToolResultsTurn)
    return results


@pytest.mark.parametrize("model", WIRE_APIS)
async def test_the_loop_looks_rules_up_through_a_stdio_server_and_then_answers_every_block(
    model, run_loop, rust_paragraphs
) -> None:
    ran = await run_loop([stdio_server("rules")], model=model)
    outcome, heard = ran.outcome, ran.heard

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
    assert heard == [first, second]


@pytest.mark.parametrize("model", WIRE_APIS)
async def test_the_loop_runs_against_a_server_over_streamable_http(model, run_loop) -> None:
    with http_server("rules") as address:
        outcome = (await run_loop([address], model=model)).outcome
    assert outcome.end is LoopEnd.ANSWERED
    assert [len(turn.response.tool_calls) > 0 for turn in outcome.turns] == [True, False]
    assert answered_ids(outcome.response.text) == ["b1", "b2"]


async def test_the_newest_tool_results_carry_the_one_moving_cache_breakpoint(run_loop) -> None:
    ran = await run_loop([stdio_server("rules")], tool_use=ToolUse(rounds=3))
    body = ran.bodies[-1]
    marked = [
        (index, block["type"])
        for index, message in enumerate(body["messages"])
        for block in message["content"]
        if isinstance(block, dict) and "cache_control" in block
    ]
    assert len(ran.outcome.turns) == 4
    assert marked == [(len(body["messages"]) - 1, "tool_result")]
    ttls = [
        turn.cache_ttl
        for turn in ran.outcome.turns[-1].request.turns
        if isinstance(turn, ToolResultsTurn)
    ]
    assert ttls == [None, None, CacheTtl.FIVE_MINUTES]
    # Each turn reads what the turn before wrote, conversation included.
    reads = [turn.response.usage.cache_read for turn in ran.outcome.turns]
    assert reads == sorted(reads)
    assert reads[-1] > reads[1] > 0


def conversation_breakpoints(ran: Ran) -> list[bool]:
    """For each turn: whether its request marked the conversation for the cache."""
    return [
        any(
            isinstance(block, dict) and "cache_control" in block
            for message in body["messages"]
            for block in message["content"]
        )
        for body in ran.bodies
    ]


async def test_the_last_turn_the_caps_allow_writes_nothing_to_the_cache_it_cannot_read(
    run_loop,
) -> None:
    ran = await run_loop(
        [stdio_server("rules")], tool_use=ToolUse(rounds=100), limits=LoopLimits(max_turns=3)
    )
    assert ran.outcome.end is LoopEnd.TURN_CAP
    assert conversation_breakpoints(ran) == [False, True, False]


@pytest.mark.parametrize(
    ("continuations", "marked"),
    [
        (Continuations(), False),
        (Continuations(continued=MIN_TURNS_SEEN - 1), False),
        (Continuations(answered=MIN_TURNS_SEEN), False),
        (Continuations(continued=MIN_TURNS_SEEN), True),
        (Continuations(answered=MIN_TURNS_SEEN, continued=MIN_TURNS_SEEN // 2), True),
    ],
)
async def test_the_conversation_is_marked_for_the_cache_only_in_runs_whose_turns_often_go_on(
    run_loop, continuations: Continuations, marked: bool
) -> None:
    answered_before = continuations.answered
    ran = await run_loop([stdio_server("rules")], continuations=continuations)
    assert conversation_breakpoints(ran) == [False, marked]
    # The turn after the lookups is counted: it answered.
    assert continuations.answered == answered_before + 1


async def test_a_tool_that_raises_reaches_the_model_as_a_tool_error_and_the_loop_goes_on(
    run_loop,
) -> None:
    ran = await run_loop([stdio_server("hostile")])
    assert ran.outcome.end is LoopEnd.ANSWERED
    tool_results = ran.bodies[-1]["messages"][-1]["content"]
    assert [block["is_error"] for block in tool_results] == [True] * len(tool_results)
    assert "Error executing tool search_style_rules" in tool_results[0]["content"]


async def test_a_tool_that_never_answers_becomes_a_timeout_error_for_the_model(run_loop) -> None:
    ran = await run_loop(
        [stdio_server("hostile")],
        model=CHAT_MODEL,
        tool_use=ToolUse(lookup_tools=("stall",)),
        call_timeout=0.5,
    )
    assert ran.outcome.end is LoopEnd.ANSWERED
    tool_messages = [message for message in ran.bodies[-1]["messages"] if message["role"] == "tool"]
    # Chat Completions has no error flag: the text says it.
    assert tool_messages
    assert {message["content"] for message in tool_messages} == {
        "the tool did not answer within 0.5 s"
    }


async def test_a_server_that_exits_mid_loop_ends_it_with_one_clear_error(run_loop, heard) -> None:
    with pytest.raises(ToolServerGone, match="hostile' went away") as raised:
        await run_loop([stdio_server("hostile")], tool_use=ToolUse(lookup_tools=("quit",)))
    assert raised.value.retryable is False
    # The turn that asked for the call was paid for, and was reported before the failure.
    assert len(heard) == 1
    assert heard[0].response.usage.output > 0


@pytest.mark.parametrize(
    ("limits", "end", "turns"),
    [
        (LoopLimits(max_turns=3), LoopEnd.TURN_CAP, 3),
        (LoopLimits(max_tool_calls=3), LoopEnd.TOOL_CALL_CAP, 2),
        (LoopLimits(max_tokens=1), LoopEnd.TOKEN_CAP, 1),
    ],
)
async def test_a_model_that_never_stops_asking_for_tools_is_stopped_by_a_cap_that_says_which(
    limits, end, turns, run_loop
) -> None:
    ran = await run_loop([stdio_server("rules")], tool_use=ToolUse(rounds=1_000_000), limits=limits)
    assert ran.outcome.end is end
    assert len(ran.outcome.turns) == turns
    assert ran.outcome.response.tool_calls  # the last turn asked, and was not answered
    assert ran.outcome.tool_calls == 2 * (turns - 1)


async def test_tools_of_the_same_name_on_two_servers_get_their_server_as_prefix(
    run_loop,
) -> None:
    ran = await run_loop(
        [stdio_server("rules"), stdio_server("twin")],
        tool_use=ToolUse(lookup_tools=("s2_search_style_rules",)),
    )
    assert [tool["name"] for tool in ran.bodies[0]["tools"]] == [
        "add_tool",
        "s1_count_words",
        "s1_search_style_rules",
        "s2_count_words",
        "s2_search_style_rules",
    ]
    # The call went to the second server's tool, under its own name there.
    assert {result.output for result in last_results(ran.outcome).results} == {
        "twin: no rule found"
    }


async def test_a_schema_strict_mode_rejects_is_flagged_and_sent_without_strict(run_loop) -> None:
    ran = await run_loop([stdio_server("hostile")], tool_use=ToolUse(lookup_tools=("bounded",)))
    flagged = {tool.name: tool.reasons for tool in ran.outcome.flagged}
    assert flagged["bounded"] == (
        "$: additionalProperties is not false",
        "$: not required: note",
        "$.properties.text: unsupported keyword maxLength",
    )
    sent = next(tool for tool in ran.bodies[0]["tools"] if tool["name"] == "bounded")
    assert sent["strict"] is False
    # Sent as it is, the sandbox (which checks strict schemas as the API does) takes it.
    assert ran.outcome.end is LoopEnd.ANSWERED


async def test_a_server_that_changes_its_tools_mid_run_is_listed_again(run_loop) -> None:
    ran = await run_loop(
        [stdio_server("rules")], tool_use=ToolUse(lookup_tools=("add_tool",)), blocks=1
    )
    first, second = ([tool["name"] for tool in body["tools"]] for body in ran.bodies)
    assert "late_tool" not in first
    assert "late_tool" in second
    assert last_results(ran.outcome).results[0].output == "added late_tool"


async def test_a_model_that_takes_no_tools_is_refused_before_any_call(run_loop) -> None:
    with pytest.raises(UserInputError, match="'smollm2-135m-instruct' cannot call tools"):
        await run_loop([stdio_server("rules")], profile=model_profile("smollm2-135m-instruct"))


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("stdio:no-such-command-here", "'stdio:no-such-command-here': cannot connect"),
        ("http://127.0.0.1:9/mcp", "'http://127.0.0.1:9/mcp': cannot connect"),
    ],
)
async def test_a_server_that_cannot_be_reached_is_one_clear_user_error(
    address: str, message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        async with open_toolbox([parse_server_address(address)]):
            pass


@pytest.mark.parametrize("text", ["stdio:", "stdio:'unclosed", "ftp://host/mcp", "server.py"])
def test_a_malformed_server_address_is_one_clear_user_error(text: str) -> None:
    with pytest.raises(UserInputError, match=r"--mcp"):
        parse_server_address(text)


def test_a_stdio_address_is_split_as_a_shell_would(tmp_path: Path) -> None:
    address = parse_server_address(f"stdio:node '{tmp_path}/my server.js' --flag")
    assert address.command == ("node", f"{tmp_path}/my server.js", "--flag")


@pytest.mark.parametrize("model", WIRE_APIS)
async def test_a_model_forced_to_answer_by_tool_may_still_call_the_servers_tools_first(
    model, run_loop
) -> None:
    forced = replace(model_profile(model), output=OutputMechanism.STRICT_TOOL_FORCED)
    ran = await run_loop([stdio_server("rules")], model=model, profile=forced)
    assert ran.outcome.end is LoopEnd.ANSWERED
    assert len(ran.outcome.turns) == 2
    assert ran.bodies[0]["tool_choice"] in ({"type": "any"}, "required")
    assert answered_ids(ran.outcome.response.text) == ["b1", "b2"]
