"""The Responses API (``/v1/responses``): validate a body by its own rules, answer in its shape.

A Responses request runs through the same engine as Chat Completions (``engine.py``): once
validated, it is restated as the same prompt in Chat Completions terms (``instructions`` as a
leading system message, input items as messages, ``input_text`` parts as text parts with
their cache breakpoints, flat function tools nested, ``text.format`` as ``response_format``),
so prompt layout, caching, rate limits, faults and usage cannot differ between the two APIs.
The engine's chat completion is then rewritten as a ``response`` object: a truncated answer
is ``status: "incomplete"`` with ``incomplete_details.reason: "max_output_tokens"``, a refusal
a ``refusal`` content part, usage ``input_tokens_details.{cached_tokens,cache_write_tokens}``
(``PROVIDERS.md``; the SDK's type requires ``cache_write_tokens``, so it is 0 before GPT-5.6).

Where the Responses API differs from Chat Completions: function tools work on every model
(``chat_tools`` in ``models.toml`` is about Chat Completions only); the effort is
``reasoning.effort``; ``max_output_tokens`` is at least 16 ("Expected a value >= 16" in public
issue reports). The sandbox keeps no responses, so ``previous_response_id``, ``conversation``
and ``background`` are 400s, and it does not stream them: ``stream: true`` is a 400 too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from blockpass.sandbox.openai.engine import Completion
from blockpass.sandbox.openai.errors import invalid, unsupported_parameter
from blockpass.sandbox.openai.models import Caching, ModelFacts, find_model
from blockpass.sandbox.openai.request import (
    ChatRequest,
    JsonObject,
    cache_mode,
    check_function,
    check_part,
    check_sampling,
    check_schema_format,
    check_tool_turns,
    mentions_json,
    output_limit,
    reasoning_effort,
    tool_choice,
)

MIN_OUTPUT_TOKENS = 16
_ROLES = ("user", "assistant", "system", "developer")
_PARTS = ("input_text", "input_image", "input_file", "output_text", "refusal")
_TEXT_PARTS = ("input_text", "output_text")
_STATEFUL = ("previous_response_id", "conversation", "background")


@dataclass(frozen=True, slots=True, kw_only=True)
class ResponsesRequest:
    """The request in Chat Completions terms for the engine, and the settings a response
    object repeats back."""

    chat: ChatRequest
    echo: JsonObject


def parse_responses_request(body: object, *, in_batch: bool = False) -> ResponsesRequest:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise invalid("you must provide a model parameter", "model")
    model = find_model(model_id)
    if body.get("stream") is True:
        where = "in the Batch API" if in_batch else "by the sandbox's /v1/responses"
        raise unsupported_parameter("stream", f"Streaming is not supported {where}.")
    for name in _STATEFUL:
        if body.get(name) not in (None, False):
            raise unsupported_parameter(
                name, f"'{name}' is not supported: the sandbox keeps no responses."
            )
    reasoning = body.get("reasoning")
    if reasoning is not None and not isinstance(reasoning, dict):
        raise invalid("Invalid 'reasoning': expected an object.", "reasoning")
    effort = reasoning_effort((reasoning or {}).get("effort"), model, "reasoning.effort")
    check_sampling(body, model, effort)
    tools = [_nested(tool) for tool in _tools(body.get("tools"))]
    messages = _messages(body.get("instructions"), body.get("input"), model)
    # Checked in Chat Completions terms, so the 400 for a call without its output (or an
    # output without its call) reads as that API's.
    check_tool_turns(messages)
    text_format = _text_format(body.get("text"), messages)
    chat = ChatRequest(
        model=model,
        messages=messages,
        max_output=output_limit(
            body.get("max_output_tokens"), "max_output_tokens", model, minimum=MIN_OUTPUT_TOKENS
        ),
        stream=False,
        include_usage=False,
        response_format=_as_response_format(text_format),
        tools=tools,
        tool_choice=tool_choice(_nested_choice(body.get("tool_choice")), tools),
        parallel_tool_calls=body.get("parallel_tool_calls", True) is not False,
        reasoning_effort=effort,
        cache_mode=cache_mode(body.get("prompt_cache_options"), model),
        extended_retention=body.get("prompt_cache_retention") == "24h",
    )
    return ResponsesRequest(chat=chat, echo=_echo(body, chat, text_format))


def response_body(request: ResponsesRequest, completion: Completion) -> JsonObject:
    """The engine's chat completion for this request, as the Responses API returns it."""
    chat = completion.body
    choice = chat["choices"][0]
    truncated = choice["finish_reason"] == "length"
    status = "incomplete" if truncated else "completed"
    usage = chat["usage"]
    details = usage["prompt_tokens_details"]
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": chat["created"],
        "status": status,
        "completed_at": None if truncated else chat["created"],
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if truncated else None,
        "model": chat["model"],
        "output": _output_items(choice["message"], status),
        **request.echo,
        "service_tier": chat["service_tier"],
        "usage": {
            "input_tokens": usage["prompt_tokens"],
            "input_tokens_details": {
                "cached_tokens": details["cached_tokens"],
                "cache_write_tokens": details.get("cache_write_tokens", 0),
            },
            "output_tokens": usage["completion_tokens"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["total_tokens"],
        },
    }


def _messages(instructions: object, raw: object, model: ModelFacts) -> list[JsonObject]:
    messages: list[JsonObject] = []
    if instructions is not None:
        if not isinstance(instructions, str):
            raise invalid("Invalid 'instructions': expected a string.", "instructions")
        messages.append({"role": "system", "content": instructions})
    if isinstance(raw, str):
        return [*messages, {"role": "user", "content": raw}]
    if raw is None:
        raise invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    if not isinstance(raw, list) or not raw:
        raise invalid("Invalid 'input': expected a string or a non-empty array.", "input")
    for index, item in enumerate(raw):
        message = _message(item, f"input[{index}]", model)
        previous = messages[-1] if messages else {}
        if message.get("tool_calls") and previous.get("tool_calls"):
            # Function call items in a row are one assistant turn of parallel calls.
            previous["tool_calls"] = [*previous["tool_calls"], *message["tool_calls"]]
        else:
            messages.append(message)
    return messages


def _message(item: object, where: str, model: ModelFacts) -> JsonObject:
    if not isinstance(item, dict):
        raise invalid(f"Invalid '{where}': expected an object.", where)
    kind = item.get("type", "message")
    if kind == "function_call":
        call_id, name, arguments = (
            _string(item, key, where) for key in ("call_id", "name", "arguments")
        )
        call = {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        return {"role": "assistant", "content": None, "tool_calls": [call]}
    if kind == "function_call_output":
        call_id = _string(item, "call_id", where)
        return {"role": "tool", "tool_call_id": call_id, "content": _output(item, where, model)}
    if kind != "message":
        raise invalid(
            f"Invalid '{where}.type': the sandbox takes 'message', 'function_call' and "
            "'function_call_output' items.",
            f"{where}.type",
            "invalid_value",
        )
    role = item.get("role")
    if role not in _ROLES:
        raise invalid(
            f"Invalid value for '{where}.role': expected one of {', '.join(_ROLES)}.",
            f"{where}.role",
            "invalid_value",
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list) or not content:
        raise invalid(
            f"Invalid '{where}.content': expected a string or an array of parts.",
            f"{where}.content",
        )
    return {
        "role": role,
        "content": [
            _part(part, f"{where}.content[{number}]", str(role), model)
            for number, part in enumerate(content)
        ],
    }


def _part(part: object, where: str, role: str, model: ModelFacts) -> JsonObject:
    text_type = "output_text" if role == "assistant" else "input_text"
    check_part(part, where, role, model, text_type=text_type)
    assert isinstance(part, dict)
    if part["type"] not in _PARTS:
        raise invalid(
            f"Invalid value: '{part['type']}'. Supported values are: "
            f"{', '.join(repr(value) for value in _PARTS)}.",
            f"{where}.type",
            "invalid_value",
        )
    # The engine lays out text parts by the Chat Completions name; the marker goes along.
    return {**part, "type": "text"} if part["type"] in _TEXT_PARTS else part


def _output(item: JsonObject, where: str, model: ModelFacts) -> str | list[JsonObject]:
    """A function call's output: a string, or input_text parts (which may carry a cache
    breakpoint), as the engine's text parts."""
    output = item.get("output")
    if isinstance(output, list) and output:
        return [
            _part(part, f"{where}.output[{number}]", "user", model)
            for number, part in enumerate(output)
        ]
    return _string(item, "output", where)


def _string(item: JsonObject, key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise invalid(
            f"Missing required parameter: '{where}.{key}'.",
            f"{where}.{key}",
            "missing_required_parameter",
        )
    return value


def _tools(raw: object) -> list[JsonObject]:
    """The flat function tools as sent, checked as Chat Completions checks its nested ones."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("Invalid 'tools': expected an array.", "tools")
    names: set[str] = set()
    for index, tool in enumerate(raw):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or tool.get("type") != "function":
            raise invalid(
                f"Invalid '{where}': the sandbox emulates function tools only.", f"{where}.type"
            )
        check_function(tool, where, names)
    return raw


def _nested(tool: JsonObject) -> JsonObject:
    return {"type": "function", "function": {k: v for k, v in tool.items() if k != "type"}}


def _nested_choice(raw: object) -> object:
    """A function forced by name is ``{"type", "name"}`` here, nested on Chat Completions."""
    if isinstance(raw, dict) and raw.get("type") == "function":
        return {"type": "function", "function": {"name": raw.get("name")}}
    return raw


def _text_format(raw: object, messages: list[JsonObject]) -> JsonObject:
    """``text.format`` as sent, ``{"type": "text"}`` when there is none."""
    if raw is None:
        return {"type": "text"}
    spec = (raw.get("format") or {"type": "text"}) if isinstance(raw, dict) else None
    if not isinstance(spec, dict) or spec.get("type") not in ("text", "json_object", "json_schema"):
        raise invalid(
            "Invalid 'text.format.type': expected 'text', 'json_object' or 'json_schema'.",
            "text.format.type",
        )
    if spec["type"] == "json_object" and not mentions_json(messages):
        raise invalid(
            "Response input messages must contain the word 'json' in some form to use "
            "'text.format' of type 'json_object'.",
            "input",
        )
    if spec["type"] != "json_schema":
        return spec
    check_schema_format(spec, "text.format", "text.format.schema")
    return spec


def _as_response_format(spec: JsonObject) -> JsonObject | None:
    if spec["type"] == "text":
        return None
    if spec["type"] != "json_schema":
        return spec
    nested = {key: spec[key] for key in ("name", "schema", "strict") if key in spec}
    return {"type": "json_schema", "json_schema": nested}


def _echo(body: JsonObject, chat: ChatRequest, text_format: JsonObject) -> JsonObject:
    breakpoints = chat.model.caching is Caching.BREAKPOINTS
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": chat.max_output,
        "metadata": body.get("metadata") or {},
        "parallel_tool_calls": chat.parallel_tool_calls,
        "prompt_cache_key": body.get("prompt_cache_key"),
        "prompt_cache_options": {"mode": chat.cache_mode, "ttl": "30m"} if breakpoints else None,
        "reasoning": {"effort": chat.reasoning_effort, "summary": None},
        "store": body.get("store", True) is not False,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text_format, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
    }


def _output_items(message: JsonObject, status: str) -> list[JsonObject]:
    if message.get("tool_calls"):
        return [
            {
                "id": f"fc_{uuid.uuid4().hex}",
                "type": "function_call",
                "status": status,
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
            }
            for call in message["tool_calls"]
        ]
    content: list[JsonObject] = (
        [{"type": "refusal", "refusal": message["refusal"]}]
        if message["refusal"] is not None
        else [
            {"type": "output_text", "text": message["content"], "annotations": [], "logprobs": []}
        ]
    )
    return [
        {
            "id": f"msg_{uuid.uuid4().hex}",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }
    ]
