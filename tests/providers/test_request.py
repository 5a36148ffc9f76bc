"""The provider-neutral request: its parts, breakpoints, tools and tool turns."""

from __future__ import annotations

import json

import pytest

from blockpass.packformat import RESULT_SCHEMA, RESULT_TOOL_NAME
from blockpass.providers.base import (
    MAX_BREAKPOINTS,
    AssistantTurn,
    CacheTtl,
    ModelRequest,
    PartKind,
    RequestPart,
    StopReason,
    ToolCall,
    ToolResult,
    ToolResultsTurn,
    Turn,
)
from blockpass.tooldefs import ToolDefinition

PREFIX = RequestPart(kind=PartKind.PREFIX, text="Instructions.", cache_ttl=CacheTtl.ONE_HOUR)
CONTEXT = RequestPart(kind=PartKind.CONTEXT, text="Retrieved rule.")
PACK = RequestPart(kind=PartKind.PACK, text="<pack/>")
CALL = ToolCall(id="call_1", name="lookup", arguments={"term": "utilize"})


def request(
    *parts: RequestPart, tools: tuple[ToolDefinition, ...] = (), turns: tuple[Turn, ...] = ()
) -> ModelRequest:
    return ModelRequest(
        model="m", parts=parts, max_tokens=10, schema=RESULT_SCHEMA, tools=tools, turns=turns
    )


def tool(name: str, parameters: dict[str, object]) -> ToolDefinition:
    return ToolDefinition(name=name, description=f"{name}.", parameters=parameters, strict=True)


def test_instruction_parts_make_the_system_text_with_the_prefix_first_and_alone() -> None:
    two = request(PREFIX, CONTEXT, PACK)
    assert two.system_pieces == ("Instructions.", "\n\nRetrieved rule.")
    assert two.system == "Instructions.\n\nRetrieved rule."
    assert request(PREFIX, PACK).system == "Instructions."
    assert (two.user, two.cache_ttl) == ("<pack/>", CacheTtl.ONE_HOUR)
    assert request(CONTEXT, PACK).cache_ttl is None


@pytest.mark.parametrize(
    "parts",
    [
        (PREFIX,),
        (PREFIX, PACK, PACK),
        (PACK, PREFIX),
        (CONTEXT, PREFIX, PACK),
    ],
)
def test_parts_go_prefix_then_context_then_one_pack_last(parts: tuple[RequestPart, ...]) -> None:
    with pytest.raises(ValueError, match=r"pack|prefix"):
        request(*parts)


def test_a_request_carries_at_most_four_breakpoints() -> None:
    marked = RequestPart(kind=PartKind.PREFIX, text="p", cache_ttl=CacheTtl.FIVE_MINUTES)
    request(*[marked] * MAX_BREAKPOINTS, PACK)
    with pytest.raises(ValueError, match="at most 4"):
        request(*[marked] * (MAX_BREAKPOINTS + 1), PACK)


def test_one_hour_breakpoints_come_before_five_minute_ones() -> None:
    hour = RequestPart(kind=PartKind.PREFIX, text="p", cache_ttl=CacheTtl.ONE_HOUR)
    five = RequestPart(kind=PartKind.PREFIX, text="p", cache_ttl=CacheTtl.FIVE_MINUTES)
    request(hour, five, PACK)
    with pytest.raises(ValueError, match="1h"):
        request(five, hour, PACK)


def test_tools_are_kept_sorted_by_name_with_sorted_schema_keys() -> None:
    """The same tools listed in another order, their schemas' keys too, give the same
    request: tool definitions sit in the cached prefix."""
    lookup = {"type": "object", "properties": {"term": {"type": "string"}}}
    shuffled = {"properties": {"term": {"type": "string"}}, "type": "object"}
    one = request(PREFIX, PACK, tools=(tool("search", {}), tool("lookup", lookup)))
    two = request(PREFIX, PACK, tools=(tool("lookup", shuffled), tool("search", {})))
    assert [t.name for t in one.tools] == ["lookup", "search"]
    assert one == two
    assert json.dumps(one.tools[0].parameters) == json.dumps(two.tools[0].parameters)
    assert list(one.tools[0].parameters) == ["properties", "type"]


def test_tool_names_are_unique_and_leave_the_result_tool_alone() -> None:
    with pytest.raises(ValueError, match="unique"):
        request(PREFIX, PACK, tools=(tool("lookup", {}), tool("lookup", {})))
    with pytest.raises(ValueError, match=RESULT_TOOL_NAME):
        request(PREFIX, PACK, tools=(tool(RESULT_TOOL_NAME, {}),))


def test_tool_turns_alternate_calls_and_their_results_and_end_with_results() -> None:
    calls = AssistantTurn(text="Checking.", tool_calls=(CALL,))
    answered = ToolResultsTurn(results=(ToolResult(call_id="call_1", output="use"),))
    assert request(PREFIX, PACK, turns=(calls, answered)).turns == (calls, answered)
    with pytest.raises(ValueError, match="end with the tool results"):
        request(PREFIX, PACK, turns=(calls,))
    with pytest.raises(ValueError, match="AssistantTurn"):
        request(PREFIX, PACK, turns=(answered,))
    other = ToolResultsTurn(results=(ToolResult(call_id="call_2", output="use"),))
    with pytest.raises(ValueError, match="other calls"):
        request(PREFIX, PACK, turns=(calls, other))


def test_only_the_output_and_context_limits_truncate_an_answer() -> None:
    assert {reason for reason in StopReason if reason.truncated} == {
        StopReason.OUTPUT_LIMIT,
        StopReason.CONTEXT_LIMIT,
    }
