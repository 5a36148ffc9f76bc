"""The tools part of the cached prefix is the same bytes whatever order a server lists its
tools in and whichever connection listed them, on every wire API; strict mode's demands are
checked before a tool is sent as strict."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from blockpass.mcp_bridge.client import open_toolbox
from blockpass.mcp_bridge.tools import ServerTool, build_catalog, strict_problems
from blockpass.providers.base import ModelRequest
from tests.mcp_bridge.support import (
    ANTHROPIC_MODEL,
    CHAT_MODEL,
    REPOSITORY,
    RESPONSES_MODEL,
    http_server,
    pack_request,
    provider_for,
    stdio_server,
)

pytestmark = pytest.mark.anyio

# The tools part of an Anthropic request (the result tool is not there: the model answers in
# a JSON schema), as the rules test server defines its tools.
PINNED_ANTHROPIC_TOOLS = (
    '[{"name": "add_tool", '
    '"description": "Register late_tool and announce the change.", '
    '"input_schema": {"properties": {}, "title": "add_toolArguments", '
    '"type": "object"}, "strict": false}, {"name": "count_words", '
    '"description": "Count the words of a text.", '
    '"input_schema": {"properties": {"text": {"title": "Text", "type": "string"}}, '
    '"required": ["text"], "title": "count_wordsArguments", "type": "object"}, '
    '"strict": false}, {"name": "search_style_rules", '
    '"description": "Search the style guide: returns the rules that apply to the text.", '
    '"input_schema": {"properties": {"k": {"default": 2, "title": "K", '
    '"type": "integer"}, "text": {"title": "Text", "type": "string"}}, '
    '"required": ["text"], "title": "search_style_rulesArguments", "type": "object"}, '
    '"strict": false}]'
)


def tools_json(model: str, request: ModelRequest) -> str:
    provider = provider_for(model, "http://127.0.0.1:9")
    return json.dumps(provider.request_body(request)["tools"], ensure_ascii=False)


async def test_tool_definitions_are_the_same_bytes_across_connections_that_list_them_in_other_orders(
    guide,
) -> None:
    async with open_toolbox([stdio_server("rules")], cwd=REPOSITORY) as toolbox:
        listed_first = [tool.name for tool in toolbox.connections[0].listed or ()]
        first = (await toolbox.catalog()).definitions
    with http_server("rules", "reversed") as address:
        async with open_toolbox([address]) as toolbox:
            listed_second = [tool.name for tool in toolbox.connections[0].listed or ()]
            second = (await toolbox.catalog()).definitions
    assert listed_second == list(reversed(listed_first))
    for model in (ANTHROPIC_MODEL, CHAT_MODEL, RESPONSES_MODEL):
        request = pack_request(model, guide, ["A block."])
        one = tools_json(model, replace(request, tools=first))
        other = tools_json(model, replace(request, tools=second))
        assert one == other
    request = pack_request(ANTHROPIC_MODEL, guide, ["A block."])
    assert tools_json(ANTHROPIC_MODEL, replace(request, tools=first)) == (PINNED_ANTHROPIC_TOOLS)


def test_a_closed_schema_with_every_property_required_is_strict() -> None:
    schema = {
        "type": "object",
        "properties": {"text": {"type": "string"}, "k": {"type": "integer"}},
        "required": ["text", "k"],
        "additionalProperties": False,
    }
    assert strict_problems(schema) == ()
    catalog = build_catalog(
        [ServerTool(server=0, name="find", description="", input_schema=schema)]
    )
    assert catalog.definitions[0].strict is True
    assert catalog.flagged == ()


def test_nested_objects_and_bounds_are_flagged_where_they_are() -> None:
    schema = {
        "type": "object",
        "properties": {
            "filter": {
                "type": "object",
                "properties": {"limit": {"type": "integer", "minimum": 1}},
                "additionalProperties": False,
            }
        },
        "required": ["filter"],
        "additionalProperties": False,
    }
    assert strict_problems(schema) == (
        "$.properties.filter: not required: limit",
        "$.properties.filter.properties.limit: unsupported keyword minimum",
    )


def test_names_vendors_reject_are_made_valid_and_the_result_tools_name_is_never_taken() -> None:
    schema = {"type": "object", "properties": {}}
    catalog = build_catalog(
        [
            ServerTool(server=0, name="files/read.text", description="", input_schema=schema),
            ServerTool(server=1, name="record_results", description="", input_schema=schema),
            ServerTool(server=1, name="x" * 80, description="", input_schema=schema),
        ]
    )
    assert [tool.name for tool in catalog.definitions] == [
        "files_read_text",
        "s2_record_results",
        "x" * 64,
    ]
    assert catalog.find("s2_record_results").server_name == "record_results"
