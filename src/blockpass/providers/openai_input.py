"""A request's parts and tool turns as OpenAI input: Chat Completions messages and Responses
input items (``openai.py`` builds the rest of each body).

Both APIs get the same conversation: the system message, the pack as the user message, then
the tool turns. A call's arguments are the JSON string both APIs carry, written with sorted
keys so that a conversation sent again gives the same bytes (it is the next turn's prefix).
"""

from __future__ import annotations

import json
from typing import Any

from blockpass.providers.base import (
    AssistantTurn,
    ModelRequest,
    RequestPart,
    ToolCall,
    ToolResult,
    ToolResultsTurn,
    Turn,
)

__all__ = ["chat_messages", "conversation", "response_items", "tool_call"]


def conversation(
    request: ModelRequest, *, text_part: str, breakpoints: bool
) -> list[dict[str, Any]]:
    """The system message, then the pack: the same messages on both APIs but for the name of
    a text part (``text`` on Chat Completions, ``input_text`` on Responses).

    Without explicit ``breakpoints`` the instruction parts are one system text (plain strings
    suit every compatible server); with them, each part is a text part of its own and a part
    followed by a breakpoint carries the marker.
    """
    pack = request.parts[-1]
    if not (breakpoints and request.cache_ttl is not None):
        return [
            {"role": "system", "content": request.system},
            {"role": "user", "content": pack.text},
        ]
    system = [_marked(part, text_part) for part in request.instructions]
    user = [_marked(pack, text_part)] if pack.cache_ttl else pack.text
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _marked(part: RequestPart, text_part: str) -> dict[str, Any]:
    """A text part, marked when a breakpoint follows it. The marker's TTL is the request's 30
    minutes whatever blockpass's 5m/1h choice: a 12h write is dearer and a 30m one outlives
    the 5m it stands for."""
    content: dict[str, Any] = {"type": text_part, "text": part.text}
    if part.cache_ttl is not None:
        content["prompt_cache_breakpoint"] = {"mode": "explicit"}
    return content


def tool_call(call_id: str, name: str, arguments: str) -> ToolCall:
    """A call as both APIs return it, its arguments a JSON string: kept as written when it is
    not a JSON object (a truncated or confused model), for the caller to answer as an error."""
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        return ToolCall(id=call_id, name=name, arguments=parsed)
    return ToolCall(id=call_id, name=name, arguments={}, raw_arguments=arguments)


def _arguments(call: ToolCall) -> str:
    """Arguments as the JSON string both APIs carry; the same call gives the same bytes."""
    if call.raw_arguments:
        return call.raw_arguments
    return json.dumps(call.arguments, ensure_ascii=False, sort_keys=True)


def _result_output(
    turn: ToolResultsTurn, result: ToolResult, *, text_part: str, breakpoints: bool
) -> str | list[dict[str, Any]]:
    """A result's output: a plain string, or a marked text part where the turn's breakpoint
    follows it (the last result of the newest turn, with explicit breakpoints only)."""
    if breakpoints and turn.cache_ttl is not None and result is turn.results[-1]:
        return [
            {
                "type": text_part,
                "text": result.output,
                "prompt_cache_breakpoint": {"mode": "explicit"},
            }
        ]
    return result.output


def chat_messages(turn: Turn, *, breakpoints: bool = False) -> list[dict[str, Any]]:
    """A tool turn on Chat Completions: one assistant message holding its calls, or one
    ``tool`` message per result (the API has no error flag: ``output`` says it)."""
    if isinstance(turn, AssistantTurn):
        calls = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _arguments(call)},
            }
            for call in turn.tool_calls
        ]
        return [{"role": "assistant", "content": turn.text or None, "tool_calls": calls}]
    return [
        {
            "role": "tool",
            "tool_call_id": result.call_id,
            "content": _result_output(turn, result, text_part="text", breakpoints=breakpoints),
        }
        for result in turn.results
    ]


def response_items(turn: Turn, *, breakpoints: bool = False) -> list[dict[str, Any]]:
    """A tool turn on the Responses API: the assistant's text as a message, a
    ``function_call`` item per call, or a ``function_call_output`` item per result."""
    if isinstance(turn, AssistantTurn):
        text = [{"role": "assistant", "content": turn.text}] if turn.text else []
        calls = [
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": _arguments(call),
            }
            for call in turn.tool_calls
        ]
        return text + calls
    return [
        {
            "type": "function_call_output",
            "call_id": result.call_id,
            "output": _result_output(turn, result, text_part="input_text", breakpoints=breakpoints),
        }
        for result in turn.results
    ]
