"""The sandbox's tool use, through the official SDKs: offered a lookup tool, the responder
calls it once per block in each API's shape before it answers; a malformed tool turn gets
the API's 400."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from blockpass.packformat import RESULT_SCHEMA
from blockpass.sandbox import SandboxConfig, ToolUse
from tests.sandbox.openai_support import RESULT_FORMAT, Connect, openai_clients
from tests.sandbox.support import StartSandbox, pack, user
from tests.sandbox.test_presence import TEXT, core, redhat, retrieved

pytestmark = pytest.mark.anyio

SEARCH = {
    "type": "object",
    "properties": {"k": {"type": "integer"}, "text": {"type": "string"}},
    "required": ["text", "k"],
}
BLOCKS = ("We will utilize it.", "Click here!")


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    async with openai_clients() as connect:
        yield connect


async def test_anthropic_the_responder_calls_the_lookup_tool_per_block_then_answers(
    start_sandbox: StartSandbox,
) -> None:
    client = start_sandbox().client()
    tools: Any = [{"name": "search_style_rules", "description": "Search.", "input_schema": SEARCH}]
    output: Any = {"format": {"type": "json_schema", "schema": RESULT_SCHEMA}}
    first = await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1000,
        messages=user(pack(*BLOCKS)),
        tools=tools,
        output_config=output,
    )
    assert first.stop_reason == "tool_use"
    calls = [block for block in first.content if block.type == "tool_use"]
    assert [call.input for call in calls] == [{"text": text, "k": 0} for text in BLOCKS]
    results: Any = [
        {"type": "tool_result", "tool_use_id": call.id, "content": "no rule"} for call in calls
    ]
    second = await client.messages.create(
        model="claude-sonnet-4-6",
        max_tokens=1000,
        messages=[
            *user(pack(*BLOCKS)),
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": results},
        ],
        tools=tools,
        output_config=output,
    )
    assert second.stop_reason == "end_turn"
    assert len(json.loads(second.content[0].text)["results"]) == 2  # type: ignore[union-attr]


async def test_anthropic_a_tool_use_without_its_result_is_a_400(
    start_sandbox: StartSandbox,
) -> None:
    client = start_sandbox().client()
    call = {"type": "tool_use", "id": "toolu_1", "name": "search_style_rules", "input": {}}
    messages: Any = [
        *user(pack(*BLOCKS)),
        {"role": "assistant", "content": [call]},
        {"role": "user", "content": "go on"},
    ]
    with pytest.raises(anthropic.BadRequestError, match="without `tool_result` blocks"):
        await client.messages.create(model="claude-sonnet-4-6", max_tokens=100, messages=messages)
    stray: Any = [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "x"}]
    with pytest.raises(anthropic.BadRequestError, match="unexpected `tool_use_id`"):
        await client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            messages=[
                *user(pack(*BLOCKS)),
                {"role": "assistant", "content": "Let me look."},
                {"role": "user", "content": stray},
            ],
        )


async def test_chat_the_responder_calls_the_lookup_function_one_at_a_time_without_parallel_calls(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox())
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "find",
                "description": "Returns the style rules.",
                "parameters": SEARCH,
            },
        }
    ]
    parallel = await client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=user(pack(*BLOCKS)),
        tools=tools,
        response_format=RESULT_FORMAT,  # type: ignore[arg-type]
    )
    single = await client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=user(pack(*BLOCKS)),  # type: ignore[arg-type]
        tools=tools,
        response_format=RESULT_FORMAT,  # type: ignore[arg-type]
        parallel_tool_calls=False,
    )
    assert parallel.choices[0].finish_reason == "tool_calls"
    assert len(parallel.choices[0].message.tool_calls or []) == 2
    assert len(single.choices[0].message.tool_calls or []) == 1


async def test_chat_tool_calls_without_their_tool_messages_are_a_400(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox())
    call = {"id": "call_1", "type": "function", "function": {"name": "find", "arguments": "{}"}}
    messages: Any = [
        *user(pack(*BLOCKS)),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "go on"},
    ]
    with pytest.raises(openai.BadRequestError, match="did not have response messages: call_1"):
        await client.chat.completions.create(model="gpt-4.1-mini", messages=messages)
    stray: Any = [*user("x"), {"role": "tool", "tool_call_id": "call_9", "content": "x"}]
    with pytest.raises(openai.BadRequestError, match="must be a response to a preceeding"):
        await client.chat.completions.create(model="gpt-4.1-mini", messages=stray)


async def test_responses_the_responder_answers_with_function_call_items_until_the_rounds_are_done(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox(SandboxConfig(tool_use=ToolUse(rounds=2))))
    tools: Any = [{"type": "function", "name": "search_style_rules", "parameters": SEARCH}]
    text: Any = {"format": {"type": "json_schema", **RESULT_FORMAT["json_schema"]}}
    conversation: list[Any] = [{"role": "user", "content": pack(*BLOCKS)}]
    kinds = []
    for _ in range(3):
        response = await client.responses.create(
            model="gpt-6-sol", input=conversation, tools=tools, text=text
        )
        kinds.append([item.type for item in response.output])
        calls = [item for item in response.output if item.type == "function_call"]
        conversation += [
            {
                "type": "function_call",
                "call_id": c.call_id,
                "name": c.name,
                "arguments": c.arguments,
            }
            for c in calls
        ] + [
            {"type": "function_call_output", "call_id": c.call_id, "output": "none"} for c in calls
        ]
    assert kinds == [["function_call"] * 2, ["function_call"] * 2, ["message"]]
    with pytest.raises(openai.BadRequestError, match="preceeding"):
        await client.responses.create(
            model="gpt-6-sol",
            input=[
                conversation[0],
                {"type": "function_call_output", "call_id": "c9", "output": "x"},
            ],
        )


async def test_a_rule_the_model_looked_up_through_a_tool_is_one_it_applies(
    start_sandbox: StartSandbox, connect: Connect, shared_data: Path
) -> None:
    """In retrieve mode only the rules a request carries are applied (``presence.py``); a
    rule unit that came back from a tool has been shown to the model as much as one in its
    instructions."""
    running = start_sandbox(SandboxConfig(rules=redhat(shared_data)))
    system = core()
    found = retrieved("RedHat.Contractions")
    anthropic_client = running.client()
    tools: Any = [{"name": "search_style_rules", "description": "Search.", "input_schema": SEARCH}]
    output: Any = {"format": {"type": "json_schema", "schema": RESULT_SCHEMA}}

    async def anthropic_rules(looked_up: str) -> set[str]:
        first = await anthropic_client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=1000,
            system=system,
            messages=user(pack(TEXT)),
            tools=tools,
            output_config=output,
        )
        (call,) = [block for block in first.content if block.type == "tool_use"]
        results: Any = [{"type": "tool_result", "tool_use_id": call.id, "content": looked_up}]
        second = await anthropic_client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=1000,
            system=system,
            messages=[
                *user(pack(TEXT)),
                {"role": "assistant", "content": first.content},
                {"role": "user", "content": results},
            ],
            tools=tools,
            output_config=output,
        )
        return applied(second.content[0].text)  # type: ignore[union-attr]

    chat_client = connect(running)
    functions: Any = [
        {"type": "function", "function": {"name": "search_style_rules", "parameters": SEARCH}}
    ]

    async def chat_rules(looked_up: str) -> set[str]:
        messages: Any = [{"role": "system", "content": system}, *user(pack(TEXT))]
        first = await chat_client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=messages,
            tools=functions,
            response_format=RESULT_FORMAT,  # type: ignore[arg-type]
        )
        (call,) = first.choices[0].message.tool_calls or []
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": looked_up},
        ]
        second = await chat_client.chat.completions.create(
            model="gpt-4.1-mini",
            messages=messages,
            tools=functions,
            response_format=RESULT_FORMAT,  # type: ignore[arg-type]
        )
        return applied(second.choices[0].message.content or "")

    assert await anthropic_rules(found) == {"RedHat.Contractions"}
    assert await anthropic_rules("no rule found") == set()
    assert await chat_rules(found) == {"RedHat.Contractions"}
    assert await chat_rules("no rule found") == set()


def applied(answer: str) -> set[str]:
    (result,) = json.loads(answer)["results"]
    found = [edit["rule"] for edit in result.get("edits", [])]
    return set(found + [note.split(":")[0] for note in result.get("notes", [])])
