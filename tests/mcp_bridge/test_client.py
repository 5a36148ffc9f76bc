"""A toolbox answers every call the model makes, even the ones it cannot make: a tool that
is not there and arguments that are not a JSON object become tool errors, never a call."""

from __future__ import annotations

import pytest

from blockpass.mcp_bridge.client import open_toolbox
from blockpass.mcp_bridge.loop import LoopLimits
from blockpass.providers.base import ToolCall, ToolResult
from tests.mcp_bridge.support import REPOSITORY, stdio_server

pytestmark = pytest.mark.anyio


async def test_calls_the_toolbox_cannot_make_are_tool_errors_and_a_good_one_is_answered() -> None:
    async with open_toolbox([stdio_server("rules")], cwd=REPOSITORY) as toolbox:
        unknown = await toolbox.call(ToolCall(id="c1", name="delete_everything", arguments={}))
        broken = await toolbox.call(
            ToolCall(id="c2", name="count_words", arguments={}, raw_arguments='{"text": "a')
        )
        rejected = await toolbox.call(ToolCall(id="c3", name="count_words", arguments={}))
        counted = await toolbox.call(
            ToolCall(id="c4", name="count_words", arguments={"text": "three short words"})
        )
        listings = toolbox.listings
    assert unknown == ToolResult(
        call_id="c1", output="there is no tool named 'delete_everything'", is_error=True
    )
    assert broken == ToolResult(
        call_id="c2",
        output='the arguments are not a JSON object: \'{"text": "a\'',
        is_error=True,
    )
    assert rejected.is_error
    assert "text" in rejected.output  # the server names the missing argument
    assert counted == ToolResult(call_id="c4", output="3", is_error=False)
    # Listed once for the connection, not once per call.
    assert listings == 1


def test_limits_that_allow_no_turn_are_refused() -> None:
    with pytest.raises(ValueError, match="one turn"):
        LoopLimits(max_turns=0)


async def test_what_a_launched_server_writes_to_stderr_goes_to_the_log_given(tmp_path) -> None:
    log_path = tmp_path / "servers.log"
    with log_path.open("w", encoding="utf-8") as log:
        async with open_toolbox(
            [stdio_server("hostile")], cwd=REPOSITORY, server_log=log
        ) as toolbox:
            failed = await toolbox.call(
                ToolCall(id="c1", name="search_style_rules", arguments={"text": "x"})
            )
    assert failed.is_error
    assert "Tool 'search_style_rules' raised" in log_path.read_text(encoding="utf-8")
