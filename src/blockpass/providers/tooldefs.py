"""One tool definition, written in each vendor's wire shape (``PROVIDERS.md``).

A tool is defined once and translated here, so that the Anthropic and OpenAI adapters cannot
drift apart in what they ask of the model. Key order is part of each shape: a cached prefix
must be byte-identical from one request to the next, and JSON serialises keys in insertion
order, so each function builds its dict in one fixed order.

    Anthropic Messages     {"name", "description", "input_schema", "strict"}
    Chat Completions       {"type": "function", "function": {"name", "description",
                            "parameters", "strict"}}
    Responses              {"type": "function", "name", "description", "parameters", "strict"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from blockpass.packformat import RESULT_TOOL_NAME

__all__ = [
    "RESULT_TOOL_DESCRIPTION",
    "ToolDefinition",
    "longest_wire_form",
    "result_tool",
    "to_anthropic",
    "to_chat_completions",
    "to_responses",
]

RESULT_TOOL_DESCRIPTION = "Record one result per block of the pack."


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolDefinition:
    name: str
    description: str
    parameters: dict[str, Any]
    strict: bool


def result_tool(schema: dict[str, Any]) -> ToolDefinition:
    """The tool a model calls to hand back a pack's results, for models that answer by tool."""
    return ToolDefinition(
        name=RESULT_TOOL_NAME, description=RESULT_TOOL_DESCRIPTION, parameters=schema, strict=True
    )


def longest_wire_form(tool: ToolDefinition) -> str:
    """The tool as JSON in its most verbose wire shape (a Chat Completions tool): what a
    token budget must leave room for, whichever vendor the tool is sent to."""
    return json.dumps(to_chat_completions(tool))


def to_anthropic(tool: ToolDefinition) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": tool.parameters,
        "strict": tool.strict,
    }


def to_chat_completions(tool: ToolDefinition) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
            "strict": tool.strict,
        },
    }


def to_responses(tool: ToolDefinition) -> dict[str, Any]:
    return {
        "type": "function",
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "strict": tool.strict,
    }
