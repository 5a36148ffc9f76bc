"""One tool definition in, each vendor's wire shape out, compared byte for byte.

Byte-exact because the tool sits in the cached prefix: a reordered key changes every cache
key of every user.
"""

from __future__ import annotations

import json

from blockpass.packformat import RESULT_SCHEMA, RESULT_TOOL_NAME
from blockpass.providers.tooldefs import (
    ToolDefinition,
    result_tool,
    to_anthropic,
    to_chat_completions,
    to_responses,
)

TOOL = ToolDefinition(
    name="record_results",
    description="Record one result per block.",
    parameters={
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "required": ["id"],
        "additionalProperties": False,
    },
    strict=True,
)
PARAMETERS = '{"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"], "additionalProperties": false}'


def dumped(value: object) -> str:
    return json.dumps(value, sort_keys=False)


def test_the_anthropic_shape_names_the_schema_input_schema() -> None:
    assert dumped(to_anthropic(TOOL)) == (
        '{"name": "record_results", "description": "Record one result per block.", '
        f'"input_schema": {PARAMETERS}, "strict": true}}'
    )


def test_the_chat_completions_shape_nests_the_function() -> None:
    assert dumped(to_chat_completions(TOOL)) == (
        '{"type": "function", "function": {"name": "record_results", '
        f'"description": "Record one result per block.", "parameters": {PARAMETERS}, '
        '"strict": true}}'
    )


def test_the_responses_shape_is_flat() -> None:
    assert dumped(to_responses(TOOL)) == (
        '{"type": "function", "name": "record_results", '
        f'"description": "Record one result per block.", "parameters": {PARAMETERS}, '
        '"strict": true}'
    )


def test_a_non_strict_tool_says_so_in_every_shape() -> None:
    loose = ToolDefinition(name="t", description="d", parameters={}, strict=False)
    assert dumped(to_anthropic(loose)) == (
        '{"name": "t", "description": "d", "input_schema": {}, "strict": false}'
    )
    assert dumped(to_chat_completions(loose)) == (
        '{"type": "function", "function": {"name": "t", "description": "d", "parameters": {}, "strict": false}}'
    )
    assert dumped(to_responses(loose)) == (
        '{"type": "function", "name": "t", "description": "d", "parameters": {}, "strict": false}'
    )


def test_the_result_tool_carries_the_pack_schema_strictly() -> None:
    tool = result_tool(RESULT_SCHEMA)
    assert tool.name == RESULT_TOOL_NAME
    assert tool.parameters is RESULT_SCHEMA
    assert tool.strict
