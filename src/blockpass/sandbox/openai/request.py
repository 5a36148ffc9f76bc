"""Parse and validate a Chat Completions body.

What the API rejects with a 400 is rejected here too, so that blockpass cannot come to depend
on a request shape that fails in production: strict schemas that are not closed, reasoning
models given ``max_tokens`` or sampling parameters, function tools on models that take them
only through the Responses API, cache options on models before GPT-5.6 (an assumption: the
SDK documents them for GPT-5.6 and later only). The public checks (parts and their cache
breakpoints, efforts, sampling, output limits, cache options) serve ``responses.py`` too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from blockpass.sandbox.openai.cache import BREAKPOINT_TTLS
from blockpass.sandbox.openai.errors import OpenAIApiError, invalid, unsupported_parameter
from blockpass.sandbox.openai.models import Caching, ChatTools, ModelFacts, find_model
from blockpass.sandbox.openai.schema import check_strict_schema

JsonObject = dict[str, Any]
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_ROLES = ("system", "developer", "user", "assistant", "tool")
_SAMPLING = ("temperature", "top_p")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatRequest:
    model: ModelFacts
    messages: list[JsonObject]
    max_output: int | None
    stream: bool
    include_usage: bool
    response_format: JsonObject | None
    tools: list[JsonObject]
    tool_choice: str | JsonObject | None
    parallel_tool_calls: bool
    reasoning_effort: str | None
    cache_mode: str
    extended_retention: bool

    @property
    def schema(self) -> JsonObject | None:
        if self.response_format is None or self.response_format["type"] != "json_schema":
            return None
        schema: JsonObject = self.response_format["json_schema"].get("schema", {})
        return schema

    @property
    def tool_rounds(self) -> int:
        """Assistant turns in the conversation that called tools."""
        return sum(
            1
            for message in self.messages
            if message["role"] == "assistant" and message.get("tool_calls")
        )

    @property
    def instructions(self) -> str:
        """The system and developer messages' text, joined."""
        return "\n".join(
            text
            for message in self.messages
            if message["role"] in ("system", "developer")
            for text in _texts(message.get("content"))
        )

    @property
    def looked_up(self) -> str:
        """What tools answered in the conversation: the model has read it as it has read its
        instructions."""
        return "\n".join(
            text
            for message in self.messages
            if message["role"] == "tool"
            for text in _texts(message.get("content"))
        )

    @property
    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message["role"] == "user":
                return "\n".join(_texts(message.get("content")))
        return ""


def parse_chat_request(body: object, *, in_batch: bool = False) -> ChatRequest:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object.")
    model_id = body.get("model")
    if not isinstance(model_id, str) or not model_id:
        raise invalid("you must provide a model parameter", "model")
    model = find_model(model_id)
    if body.get("n", 1) != 1:
        raise invalid("The sandbox answers with one choice: 'n' must be 1.", "n")
    stream = body.get("stream") is True
    if in_batch and stream:
        raise invalid("Streaming is not supported in the Batch API.", "stream")
    options = body.get("stream_options")
    if options is not None and not stream:
        raise invalid(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
            "stream_options",
        )
    effort = reasoning_effort(body.get("reasoning_effort"), model, "reasoning_effort")
    check_sampling(body, model, effort)
    tools = _tools(body.get("tools"), model, effort)
    prompt_cache_options = body.get("prompt_cache_options")
    messages = _messages(body.get("messages"), model)
    return ChatRequest(
        model=model,
        messages=messages,
        max_output=_max_output(body, model),
        stream=stream,
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        response_format=_response_format(body.get("response_format"), messages),
        tools=tools,
        tool_choice=tool_choice(body.get("tool_choice"), tools),
        parallel_tool_calls=body.get("parallel_tool_calls", True) is not False,
        reasoning_effort=effort,
        cache_mode=cache_mode(prompt_cache_options, model),
        extended_retention=body.get("prompt_cache_retention") == "24h",
    )


def reasoning_effort(effort: object, model: ModelFacts, param: str) -> str | None:
    """The effort asked for (``param`` names where), or the model's default."""
    if effort is None:
        return model.default_effort
    if not model.reasoning:
        raise unsupported_parameter(
            param, f"Unsupported parameter: '{param}' is not supported with this model."
        )
    if effort not in model.efforts:
        raise invalid(
            f"Unsupported value: '{param}' does not support {effort!r} with this model. "
            f"Supported values are: {', '.join(repr(value) for value in model.efforts)}.",
            param,
            "unsupported_value",
        )
    return str(effort)


def check_sampling(body: JsonObject, model: ModelFacts, effort: str | None) -> None:
    if not model.reasoning or effort == "none":
        return
    for name in _SAMPLING:
        value = body.get(name)
        if value is not None and value != 1:
            raise invalid(
                f"Unsupported value: '{name}' does not support {value} with this model. "
                "Only the default (1) value is supported.",
                name,
                "unsupported_value",
            )


def _max_output(body: JsonObject, model: ModelFacts) -> int | None:
    if "max_tokens" in body and model.reasoning:
        raise unsupported_parameter(
            "max_tokens",
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
        )
    name = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
    return output_limit(body.get(name), name, model, minimum=1)


def output_limit(value: object, name: str, model: ModelFacts, *, minimum: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise invalid(
            f"Invalid '{name}': integer below minimum value. Expected a value >= {minimum}, "
            f"but got {value!r} instead.",
            name,
            "integer_below_min_value",
        )
    if value > model.max_output:
        raise invalid(
            f"{name} is too large: {value}. This model supports at most {model.max_output} "
            f"completion tokens, whereas you provided {value}.",
            name,
            "invalid_value",
        )
    return value


def _messages(raw: object, model: ModelFacts) -> list[JsonObject]:
    if raw is None:
        raise invalid(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(raw, list) or not raw:
        raise invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1.",
            "messages",
            "empty_array",
        )
    for index, message in enumerate(raw):
        where = f"messages[{index}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise invalid(
                f"Invalid value for '{where}.role': expected one of {', '.join(_ROLES)}.",
                f"{where}.role",
                "invalid_value",
            )
        content = message.get("content")
        if message["role"] == "assistant" and content is None and message.get("tool_calls"):
            continue
        if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise invalid(
                f"Missing required parameter: '{where}.tool_call_id'.", f"{where}.tool_call_id"
            )
        if isinstance(content, str):
            continue
        if not isinstance(content, list) or not content:
            raise invalid(
                f"Invalid '{where}.content': expected a string or an array of parts.",
                f"{where}.content",
            )
        for number, part in enumerate(content):
            check_part(part, f"{where}.content[{number}]", message["role"], model)
    check_tool_turns(raw)
    return raw


def check_tool_turns(messages: list[JsonObject]) -> None:
    """An assistant message's tool calls are answered by the tool messages right after it,
    and a tool message answers a call (the API's 400s, in its words)."""
    pending: list[str] = []
    for message in messages:
        if message["role"] == "tool":
            if message["tool_call_id"] not in pending:
                raise invalid(
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'.",
                    "messages",
                )
            pending.remove(message["tool_call_id"])
            continue
        if pending:
            raise _unanswered(pending)
        if message["role"] == "assistant":
            pending = [call.get("id") for call in message.get("tool_calls") or []]
    if pending:
        raise _unanswered(pending)


def _unanswered(pending: list[str]) -> OpenAIApiError:
    return invalid(
        "An assistant message with 'tool_calls' must be followed by tool messages "
        "responding to each 'tool_call_id'. The following tool_call_ids did not have "
        f"response messages: {', '.join(pending)}",
        "messages",
    )


def check_part(
    part: object, where: str, role: str, model: ModelFacts, *, text_type: str = "text"
) -> None:
    """A content part, and its cache breakpoint; ``text_type`` is the API's text part type."""
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise invalid(f"Invalid '{where}': each content part needs a type.", where)
    if part["type"] == text_type and not isinstance(part.get("text"), str):
        raise invalid(f"Missing required parameter: '{where}.text'.", f"{where}.text")
    marker = part.get("prompt_cache_breakpoint")
    if marker is None:
        return
    if model.caching is not Caching.BREAKPOINTS:
        raise unsupported_parameter(
            f"{where}.prompt_cache_breakpoint",
            "prompt_cache_breakpoint is supported for gpt-5.6 and later models only.",
        )
    if role == "assistant":
        raise invalid("prompt_cache_breakpoint is not accepted on assistant content.", where)
    if not isinstance(marker, dict) or marker.get("mode") != "explicit":
        raise invalid(
            f"Invalid '{where}.prompt_cache_breakpoint.mode': expected 'explicit'.", where
        )
    if marker.get("ttl", "30m") not in BREAKPOINT_TTLS:
        raise invalid(
            f"Invalid '{where}.prompt_cache_breakpoint.ttl': expected '30m' or '12h'.", where
        )


def _response_format(raw: object, messages: list[JsonObject]) -> JsonObject | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in ("text", "json_object", "json_schema"):
        raise invalid(
            "Invalid 'response_format.type': expected 'text', 'json_object' or 'json_schema'.",
            "response_format.type",
        )
    if raw["type"] == "json_object" and not mentions_json(messages):
        raise invalid(
            "'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'.",
            "messages",
        )
    if raw["type"] != "json_schema":
        return raw
    check_schema_format(raw.get("json_schema"), "response_format.json_schema", "response_format")
    return raw


def check_schema_format(spec: object, where: str, schema_param: str) -> None:
    """A json_schema format's name and schema, and the strict rules when it is strict;
    ``where`` is where its fields sit (``response_format.json_schema``, ``text.format``)."""
    if not isinstance(spec, dict) or not NAME.match(str(spec.get("name", ""))):
        raise invalid(
            f"Invalid '{where}.name': string does not match pattern {NAME.pattern}.",
            f"{where}.name",
        )
    schema = spec.get("schema", {})
    if not isinstance(schema, dict):
        raise invalid(f"Invalid '{where}.schema': expected an object.", schema_param)
    if spec.get("strict") is True:
        check_strict_schema(schema, f"response_format '{spec['name']}'", schema_param)


def _tools(raw: object, model: ModelFacts, effort: str | None) -> list[JsonObject]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise invalid("Invalid 'tools': expected an array.", "tools")
    if raw and model.chat_tools is ChatTools.RESPONSES:
        raise invalid(
            f"Function tools are not supported for {model.id} in /v1/chat/completions. "
            "To use function tools, use /v1/responses.",
            "tools",
        )
    if raw and model.chat_tools is ChatTools.EFFORT_NONE and effort != "none":
        raise invalid(
            f"Function tools with reasoning_effort are not supported for {model.id} in "
            "/v1/chat/completions. To use function tools, use /v1/responses or set "
            "reasoning_effort to 'none'.",
            "reasoning_effort",
        )
    names: set[str] = set()
    for index, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get("type") != "function":
            raise invalid(f"Invalid 'tools[{index}]': expected a function tool.", f"tools[{index}]")
        check_function(function, f"tools[{index}].function", names)
    return raw


def check_function(function: JsonObject, where: str, names: set[str]) -> None:
    """A function's name, unique among ``names``, and its parameters when it is strict;
    ``where`` is where its fields sit (nested on Chat Completions, flat on Responses)."""
    name = str(function.get("name", ""))
    if not NAME.match(name):
        raise invalid(
            f"Invalid '{where}.name': string does not match pattern {NAME.pattern}.",
            f"{where}.name",
        )
    if name in names:
        raise invalid(f"Duplicate function name in 'tools': {name}.", "tools")
    names.add(name)
    parameters = function.get("parameters", {"type": "object", "properties": {}})
    if function.get("strict") is True:
        check_strict_schema(parameters, f"function '{name}'", f"{where}.parameters")


def tool_choice(raw: object, tools: list[JsonObject]) -> str | JsonObject | None:
    if raw is None:
        return None
    if not tools:
        raise invalid(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
            "specified.",
            "tool_choice",
        )
    if raw in ("none", "auto", "required"):
        return str(raw)
    name = raw.get("function", {}).get("name") if isinstance(raw, dict) else None
    if name not in {tool["function"]["name"] for tool in tools}:
        raise invalid(
            f"Invalid value for 'tool_choice': no function named {name!r} in 'tools'.",
            "tool_choice",
        )
    assert isinstance(raw, dict)
    return raw


def cache_mode(raw: object, model: ModelFacts) -> str:
    if raw is None:
        return "implicit"
    if model.caching is not Caching.BREAKPOINTS:
        raise unsupported_parameter(
            "prompt_cache_options",
            "prompt_cache_options is supported for gpt-5.6 and later models only.",
        )
    if not isinstance(raw, dict) or raw.get("mode", "implicit") not in ("implicit", "explicit"):
        raise invalid(
            "Invalid 'prompt_cache_options.mode': expected 'implicit' or 'explicit'.",
            "prompt_cache_options.mode",
        )
    if raw.get("ttl", "30m") != "30m":
        raise invalid(
            "Invalid 'prompt_cache_options.ttl': expected '30m'.", "prompt_cache_options.ttl"
        )
    return str(raw.get("mode", "implicit"))


def mentions_json(messages: list[JsonObject]) -> bool:
    """Whether the prompt says "json", which JSON mode needs."""
    words = " ".join(text for message in messages for text in _texts(message.get("content")))
    return "json" in words.lower()


def _texts(content: object) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [
            part["text"]
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        ]
    return []
