"""Parse and validate a Messages API body; lay out its cacheable prefix.

Everything the real API rejects with a 400 is rejected here too (``PROVIDERS.md``), so that
blockpass cannot come to depend on a request shape that fails in production.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

from blockpass.sandbox.anthropic.models import ModelFacts, find_model
from blockpass.sandbox.cache import Position, Ttl
from blockpass.sandbox.errors import invalid_request
from blockpass.tokens import TokenizerFamily, count_tokens

# Under this API version (sent by SDK 2.x) every sampling parameter is rejected.
SAMPLING_REJECTED_FROM = "2026-10-21"
MAX_BREAKPOINTS = 4
IMAGE_TOKENS = 1_600
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_SAMPLING = ("temperature", "top_p", "top_k")
_UNSUPPORTED_SCHEMA_KEYS = frozenset(
    {
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "maxItems",
        "minProperties",
        "maxProperties",
    }
)

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class MessagesRequest:
    model: ModelFacts
    max_tokens: int
    stream: bool
    system: list[JsonObject]
    messages: list[JsonObject]
    tools: list[JsonObject]
    tool_choice: JsonObject | None
    output_schema: JsonObject | None
    top_level_cache: Ttl | None
    thinking: bool

    @property
    def forced_tool(self) -> bool:
        return self.tool_choice is not None and self.tool_choice.get("type") in ("any", "tool")

    @property
    def instructions(self) -> str:
        """The system text, its blocks joined."""
        return "\n".join(block["text"] for block in self.system if block.get("type") == "text")

    @property
    def looked_up(self) -> str:
        """What tools answered in the conversation: the model has read it as it has read its
        instructions."""
        return "\n".join(
            _result_text(block.get("content", ""))
            for message in self.messages
            for block in message["content"]
            if block.get("type") == "tool_result"
        )

    @property
    def last_user_text(self) -> str:
        """The text of the last user message that has text (tool results have none)."""
        for message in reversed(self.messages):
            texts = [block["text"] for block in message["content"] if block.get("type") == "text"]
            if message["role"] == "user" and texts:
                return "\n".join(texts)
        return ""

    @property
    def tool_rounds(self) -> int:
        """Assistant turns in the conversation that called tools."""
        return sum(
            1
            for message in self.messages
            if message["role"] == "assistant"
            and any(block.get("type") == "tool_use" for block in message["content"])
        )


def _result_text(content: object) -> str:
    if isinstance(content, list):
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def parse_messages_request(
    body: object, *, api_version: str, in_batch: bool = False, count_only: bool = False
) -> MessagesRequest:
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.")
    if "model" not in body:
        raise invalid_request("model: Field required")
    model = find_model(body["model"])
    max_tokens = body.get("max_tokens", 0 if count_only else None)
    if max_tokens is None:
        raise invalid_request("max_tokens: Field required")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 0:
        raise invalid_request("max_tokens: Input should be a non-negative integer")
    if max_tokens > model.max_output:
        raise invalid_request(
            f"max_tokens: {max_tokens} > {model.max_output}, which is the maximum allowed "
            f"number of output tokens for {model.id}"
        )
    if api_version >= SAMPLING_REJECTED_FROM:
        for name in _SAMPLING:
            if name in body:
                raise invalid_request(
                    f"{name}: sampling parameters are not supported in API version {api_version}"
                )

    messages = _messages(body.get("messages"))
    if messages[-1]["role"] == "assistant" and model.rejects_prefill:
        raise invalid_request(
            f"Prefilling the assistant message is not supported for {model.id}: "
            "the final message must be a user message."
        )
    tools = _tools(body.get("tools", []))
    tool_choice = _tool_choice(body.get("tool_choice"), tools, model)
    output_schema = _output_schema(body.get("output_config"))
    stream = bool(body.get("stream", False))
    thinking = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") == "enabled"
    request = MessagesRequest(
        model=model,
        max_tokens=max_tokens,
        stream=stream,
        system=_system(body.get("system")),
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        output_schema=output_schema,
        top_level_cache=_cache_control(body.get("cache_control"), "cache_control"),
        thinking=thinking,
    )
    if max_tokens == 0 and not count_only:
        _check_prewarm(request, in_batch=in_batch)
    return request


def _check_prewarm(request: MessagesRequest, *, in_batch: bool) -> None:
    reason = (
        "inside a message batch"
        if in_batch
        else "with streaming"
        if request.stream
        else "with extended thinking"
        if request.thinking
        else "with output_config.format"
        if request.output_schema is not None
        else "with a forced tool choice"
        if request.forced_tool
        else None
    )
    if reason:
        raise invalid_request(f"max_tokens: 0 (cache pre-warming) is not supported {reason}.")


def _messages(raw: object) -> list[JsonObject]:
    if not isinstance(raw, list) or not raw:
        raise invalid_request("messages: at least one message is required")
    messages = []
    for index, message in enumerate(raw):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise invalid_request(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        content = _content_blocks(message.get("content"), f"messages.{index}.content")
        messages.append({"role": message["role"], "content": content})
    _check_tool_turns(messages)
    return messages


def _check_tool_turns(messages: list[JsonObject]) -> None:
    """Every tool_use is answered by a tool_result in the very next message, and every
    tool_result answers a tool_use of the message before it (the API's two 400s)."""
    for index, message in enumerate(messages):
        calls = [block["id"] for block in message["content"] if block.get("type") == "tool_use"]
        answered = [
            block.get("tool_use_id")
            for block in message["content"]
            if block.get("type") == "tool_result"
        ]
        previous = messages[index - 1]["content"] if index else []
        asked = {block.get("id") for block in previous if block.get("type") == "tool_use"}
        unexpected = [call for call in answered if call not in asked]
        if unexpected:
            raise invalid_request(
                f"messages.{index}.content: unexpected `tool_use_id` found in `tool_result` "
                f"blocks: {unexpected[0]}. Each `tool_result` block must have a corresponding "
                "`tool_use` block in the previous message."
            )
        following = messages[index + 1]["content"] if index + 1 < len(messages) else None
        if not calls or following is None:
            continue
        results = {
            block.get("tool_use_id") for block in following if block.get("type") == "tool_result"
        }
        missing = [call for call in calls if call not in results]
        if missing:
            raise invalid_request(
                f"messages.{index}: `tool_use` ids were found without `tool_result` blocks "
                f"immediately after: {', '.join(missing)}. Each `tool_use` block must have a "
                "corresponding `tool_result` block in the next message."
            )


def _system(raw: object) -> list[JsonObject]:
    if raw is None:
        return []
    return _content_blocks(raw, "system")


def _content_blocks(raw: object, where: str) -> list[JsonObject]:
    if isinstance(raw, str):
        raw = [{"type": "text", "text": raw}]
    if not isinstance(raw, list) or not raw:
        raise invalid_request(f"{where}: content must be a non-empty string or list of blocks")
    for index, block in enumerate(raw):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise invalid_request(f"{where}.{index}: each content block needs a type")
        if block["type"] == "text" and not (isinstance(block.get("text"), str) and block["text"]):
            raise invalid_request(f"{where}.{index}: text content blocks must be non-empty")
        _cache_control(block.get("cache_control"), f"{where}.{index}.cache_control")
    return raw


def _tools(raw: object) -> list[JsonObject]:
    if not isinstance(raw, list):
        raise invalid_request("tools: Input should be a list")
    names = set()
    for index, tool in enumerate(raw):
        if not isinstance(tool, dict) or not _TOOL_NAME.match(str(tool.get("name", ""))):
            raise invalid_request(f"tools.{index}.name: String should match {_TOOL_NAME.pattern}")
        if tool["name"] in names:
            raise invalid_request(f"tools: Tool names must be unique ({tool['name']})")
        names.add(tool["name"])
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise invalid_request(f"tools.{index}.input_schema: type must be 'object'")
        if tool.get("strict"):
            _check_schema(schema, f"tools.{index}.input_schema")
        _cache_control(tool.get("cache_control"), f"tools.{index}.cache_control")
    return raw


def _tool_choice(raw: object, tools: list[JsonObject], model: ModelFacts) -> JsonObject | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") not in ("auto", "any", "tool", "none"):
        raise invalid_request("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'")
    if raw["type"] in ("any", "tool"):
        if model.rejects_forced_tool_choice:
            raise invalid_request(
                f"tool_choice: forced tool use (type '{raw['type']}') is not supported by "
                f"{model.id}; use 'auto' or structured outputs"
            )
        if not tools:
            raise invalid_request("tool_choice: forced tool use requires tools")
    if raw["type"] == "tool" and raw.get("name") not in {tool["name"] for tool in tools}:
        raise invalid_request(f"tool_choice.name: no tool named {raw.get('name')!r}")
    return raw


def _output_schema(raw: object) -> JsonObject | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid_request("output_config: Input should be an object")
    output_format = raw.get("format")
    if output_format is None:
        return None
    if not isinstance(output_format, dict) or output_format.get("type") != "json_schema":
        raise invalid_request("output_config.format.type: Input should be 'json_schema'")
    schema = output_format.get("schema")
    if not isinstance(schema, dict):
        raise invalid_request("output_config.format.schema: Field required")
    _check_schema(schema, "output_config.format.schema")
    return schema


def _check_schema(schema: JsonObject, where: str) -> None:
    """The structured-output limits: closed objects, no recursion, no length/number bounds."""

    def visit(node: object, path: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                visit(item, f"{path}.{index}")
            return
        if not isinstance(node, dict):
            return
        if node.get("type") == "object" and node.get("additionalProperties") is not False:
            raise invalid_request(f"{path}: objects must set additionalProperties to false")
        unsupported = _UNSUPPORTED_SCHEMA_KEYS.intersection(node)
        if unsupported:
            raise invalid_request(f"{path}: unsupported keyword {sorted(unsupported)[0]!r}")
        if node.get("minItems", 0) not in (0, 1):
            raise invalid_request(f"{path}: minItems supports only 0 or 1")
        if node.get("$ref") == "#" or str(node.get("$ref", "")).startswith("#/$defs/"):
            raise invalid_request(f"{path}: recursive schemas are not supported")
        for key, value in node.items():
            if key not in ("enum", "const", "required"):
                visit(value, f"{path}.{key}")

    visit(schema, where)


def _cache_control(raw: object, where: str) -> Ttl | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("type") != "ephemeral":
        raise invalid_request(f"{where}.type: Input should be 'ephemeral'")
    ttl = raw.get("ttl", "5m")
    if ttl not in ("5m", "1h"):
        raise invalid_request(f"{where}.ttl: Input should be '5m' or '1h'")
    return Ttl(ttl)


def _canonical(block: JsonObject) -> bytes:
    # Key order is kept as sent: the real cache needs byte-identical JSON, key order included.
    stripped = {key: value for key, value in block.items() if key != "cache_control"}
    return json.dumps(stripped, ensure_ascii=False, separators=(",", ":")).encode()


def _block_tokens(block: JsonObject, family: TokenizerFamily) -> int:
    kind = block.get("type")
    if kind == "text":
        return count_tokens(block["text"], family)
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "tool_result":
        content = block.get("content", "")
        if isinstance(content, list):
            return sum(_block_tokens(part, family) for part in content) + 3
        return count_tokens(str(content), family) + 3
    return count_tokens(_canonical(block).decode(), family)


def prefix_positions(request: MessagesRequest) -> tuple[list[Position], int]:
    """Every cacheable position in prefix order (tools, system, messages), and the total."""
    seed = hashlib.sha256(request.model.id.encode())
    if request.output_schema is not None:
        # A different output format invalidates the whole cache.
        seed.update(json.dumps(request.output_schema, separators=(",", ":")).encode())
    family = request.model.tokenizer
    blocks = [*request.tools, *request.system]
    first_message_position = len(blocks)
    blocks += [block for message in request.messages for block in message["content"]]

    breakpoints = [_cache_control(block.get("cache_control"), "cache_control") for block in blocks]
    if request.top_level_cache is not None:
        breakpoints[-1] = request.top_level_cache
    marked = [ttl for ttl in breakpoints if ttl is not None]
    if len(marked) > MAX_BREAKPOINTS:
        raise invalid_request(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. "
            f"Found {len(marked)}."
        )
    if any(
        earlier is Ttl.FIVE_MINUTES and later is Ttl.ONE_HOUR
        for earlier, later in itertools.pairwise(marked)
    ):
        raise invalid_request(
            "cache_control: a ttl='1h' cache_control block must not come after a "
            "ttl='5m' cache_control block."
        )

    positions = []
    cumulative = 0
    for index, (block, ttl) in enumerate(zip(blocks, breakpoints, strict=True)):
        if index == first_message_position and request.tool_choice is not None:
            # tool_choice invalidates the messages part of the cache only.
            seed.update(json.dumps(request.tool_choice, sort_keys=True).encode())
        canonical = _canonical(block)
        seed.update(len(canonical).to_bytes(8, "big"))
        seed.update(canonical)
        cumulative += _block_tokens(block, family)
        positions.append(
            Position(digest=seed.copy().digest(), cumulative_tokens=cumulative, breakpoint=ttl)
        )
    return positions, cumulative
