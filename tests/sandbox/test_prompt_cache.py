"""Prompt-cache behaviour, driven through the official SDK over real HTTP."""

from __future__ import annotations

from typing import Any

import anthropic
import anyio
import pytest

from blockpass.sandbox import SandboxConfig
from tests.sandbox.support import StartSandbox, cached_system, pack, user

pytestmark = pytest.mark.anyio
MODEL = "claude-sonnet-4-5"


async def test_the_first_call_writes_the_prefix_and_the_second_reads_it(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    first = await client.messages.create(
        model=MODEL, max_tokens=500, system=cached_system(guide), messages=user(pack("One."))
    )
    second = await client.messages.create(
        model=MODEL, max_tokens=500, system=cached_system(guide), messages=user(pack("Two."))
    )
    assert first.usage.cache_creation_input_tokens > 1024
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert first.usage.cache_creation is not None
    assert (
        first.usage.cache_creation.ephemeral_5m_input_tokens
        == first.usage.cache_creation_input_tokens
    )
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == 0
    # input_tokens counts only what follows the last breakpoint: the user message.
    assert second.usage.input_tokens == first.usage.input_tokens


async def test_the_total_input_equals_count_tokens_whatever_the_cache_did(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    body: dict[str, Any] = {
        "model": MODEL,
        "system": cached_system(guide),
        "messages": user(pack("One.")),
    }
    counted = await client.messages.count_tokens(**body)
    for _ in range(2):
        usage = (await client.messages.create(max_tokens=500, **body)).usage
        total = (
            usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens
        )
        assert total == counted.input_tokens


@pytest.mark.slow
async def test_concurrent_first_calls_all_miss_and_all_write(
    start_sandbox: StartSandbox, guide: str
) -> None:
    # With a second of latency every request arrives before the first response begins.
    running = start_sandbox(SandboxConfig(latency=1.0))
    client = running.client()
    usages: list[anthropic.types.Usage] = []

    async def call(number: int) -> None:
        message = await client.messages.create(
            model=MODEL,
            max_tokens=500,
            system=cached_system(guide),
            messages=user(pack(f"Call {number}.")),
        )
        usages.append(message.usage)

    async with anyio.create_task_group() as group:
        for number in range(8):
            group.start_soon(call, number)
    assert [usage.cache_read_input_tokens for usage in usages] == [0] * 8
    assert all(usage.cache_creation_input_tokens > 1024 for usage in usages)

    after = await client.messages.create(
        model=MODEL, max_tokens=500, system=cached_system(guide), messages=user(pack("Later."))
    )
    assert after.usage.cache_read_input_tokens == usages[0].cache_creation_input_tokens


async def test_an_entry_expires_after_its_ttl_and_a_read_refreshes_it(
    start_sandbox: StartSandbox, guide: str
) -> None:
    running = start_sandbox()
    client = running.client()

    async def call() -> anthropic.types.Usage:
        message = await client.messages.create(
            model=MODEL, max_tokens=500, system=cached_system(guide), messages=user(pack("x."))
        )
        return message.usage

    written = (await call()).cache_creation_input_tokens
    running.clock.advance(299)
    assert (await call()).cache_read_input_tokens == written  # read at 299 s refreshes the TTL
    running.clock.advance(299)
    assert (await call()).cache_read_input_tokens == written
    running.clock.advance(301)
    expired = await call()
    assert expired.cache_read_input_tokens == 0
    assert expired.cache_creation_input_tokens == written


async def test_a_one_hour_entry_outlives_five_minutes_and_is_billed_as_1h(
    start_sandbox: StartSandbox, guide: str
) -> None:
    running = start_sandbox()
    client = running.client()
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 500,
        "system": cached_system(guide, ttl="1h"),
        "messages": user(pack("x.")),
    }
    first = await client.messages.create(**body)
    assert first.usage.cache_creation is not None
    assert (
        first.usage.cache_creation.ephemeral_1h_input_tokens
        == first.usage.cache_creation_input_tokens
    )
    running.clock.advance(3000)
    assert (await client.messages.create(**body)).usage.cache_read_input_tokens > 0
    running.clock.advance(3601)
    assert (await client.messages.create(**body)).usage.cache_read_input_tokens == 0


async def test_a_prefix_below_the_model_minimum_is_neither_written_nor_read(
    start_sandbox: StartSandbox,
) -> None:
    client = start_sandbox().client()
    short = "Use plain language. " * 40  # about 160 tokens, under Sonnet 4.5's 1,024
    for _ in range(2):
        message = await client.messages.create(
            model=MODEL, max_tokens=100, system=cached_system(short), messages=user("hi")
        )
        assert message.usage.cache_creation_input_tokens == 0
        assert message.usage.cache_read_input_tokens == 0


async def test_the_minimum_is_per_model(start_sandbox: StartSandbox, guide: str) -> None:
    client = start_sandbox().client()
    text = guide[: len(guide) // 2]  # about 1,800 tokens: above 1,024, below Haiku 4.5's 4,096
    sonnet = await client.messages.create(
        model=MODEL, max_tokens=100, system=cached_system(text), messages=user("hi")
    )
    haiku = await client.messages.create(
        model="claude-haiku-4-5", max_tokens=100, system=cached_system(text), messages=user("hi")
    )
    assert sonnet.usage.cache_creation_input_tokens > 1024
    assert haiku.usage.cache_creation_input_tokens == 0


async def test_five_breakpoints_are_rejected(start_sandbox: StartSandbox) -> None:
    client = start_sandbox().client()
    system = [
        {"type": "text", "text": f"Rule {n}.", "cache_control": {"type": "ephemeral"}}
        for n in range(5)
    ]
    with pytest.raises(anthropic.BadRequestError) as caught:
        await client.messages.create(model=MODEL, max_tokens=10, system=system, messages=user("hi"))
    assert caught.value.status_code == 400
    assert "maximum of 4" in caught.value.message


async def test_a_one_hour_breakpoint_after_a_five_minute_one_is_rejected(
    start_sandbox: StartSandbox,
) -> None:
    client = start_sandbox().client()
    system = [
        {"type": "text", "text": "A.", "cache_control": {"type": "ephemeral", "ttl": "5m"}},
        {"type": "text", "text": "B.", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    ]
    with pytest.raises(anthropic.BadRequestError, match="must not come after"):
        await client.messages.create(model=MODEL, max_tokens=10, system=system, messages=user("hi"))


async def test_a_read_looks_back_at_most_twenty_blocks_from_a_breakpoint(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    await client.messages.create(
        model=MODEL, max_tokens=10, system=cached_system(guide), messages=user("Question zero.")
    )

    def later(extra_blocks: int, label: str) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [
            {"type": "text", "text": f"{label} {n}."} for n in range(extra_blocks)
        ]
        blocks[-1]["cache_control"] = {"type": "ephemeral"}
        return [{"role": "user", "content": blocks}]

    # The guide is position 0; a breakpoint 19 positions later still finds it, 20 later does not.
    near = await client.messages.create(
        model=MODEL,
        max_tokens=10,
        system=[{"type": "text", "text": guide}],
        messages=later(19, "Near"),
    )
    far = await client.messages.create(
        model=MODEL,
        max_tokens=10,
        system=[{"type": "text", "text": guide}],
        messages=later(20, "Far"),
    )
    assert near.usage.cache_read_input_tokens > 1024
    assert far.usage.cache_read_input_tokens == 0


async def test_a_hit_needs_byte_identical_json_including_key_order(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    tool = {
        "name": "record_results",
        "description": guide,
        "input_schema": {"type": "object", "properties": {}},
    }
    reordered = {
        "description": guide,
        "name": "record_results",
        "input_schema": {"type": "object", "properties": {}},
    }
    first = await client.messages.create(
        model=MODEL,
        max_tokens=10,
        tools=[{**tool, "cache_control": {"type": "ephemeral"}}],
        messages=user("hi"),
    )
    again = await client.messages.create(
        model=MODEL,
        max_tokens=10,
        tools=[{**tool, "cache_control": {"type": "ephemeral"}}],
        messages=user("hi"),
    )
    other = await client.messages.create(
        model=MODEL,
        max_tokens=10,
        tools=[{**reordered, "cache_control": {"type": "ephemeral"}}],
        messages=user("hi"),
    )
    assert first.usage.cache_creation_input_tokens > 0
    assert again.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert other.usage.cache_read_input_tokens == 0


async def test_tool_choice_invalidates_only_the_messages_part(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    tools = [
        {
            "name": "note",
            "description": "Record a note.",
            "input_schema": {"type": "object", "properties": {}},
        }
    ]
    conversation = [
        {
            "role": "user",
            "content": [{"type": "text", "text": guide, "cache_control": {"type": "ephemeral"}}],
        }
    ]
    system = cached_system(guide)
    await client.messages.create(
        model=MODEL, max_tokens=10, tools=tools, system=system, messages=conversation
    )
    changed = await client.messages.create(
        model=MODEL,
        max_tokens=10,
        tools=tools,
        system=system,
        messages=conversation,
        tool_choice={"type": "auto"},
    )
    system_part = changed.usage.cache_read_input_tokens
    assert system_part > 1024  # tools and system are still read
    assert changed.usage.cache_creation_input_tokens > 1024  # the messages part is written again


async def test_a_different_output_format_invalidates_the_cache(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a"],
        "additionalProperties": False,
    }
    await client.messages.create(
        model=MODEL, max_tokens=50, system=cached_system(guide), messages=user("hi")
    )
    formatted = await client.messages.create(
        model=MODEL,
        max_tokens=50,
        system=cached_system(guide),
        messages=user("hi"),
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    assert formatted.usage.cache_read_input_tokens == 0


async def test_top_level_cache_control_puts_the_breakpoint_on_the_last_block(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 10,
        "system": guide,
        "messages": user("hi"),
        "cache_control": {"type": "ephemeral"},
    }
    first = await client.messages.create(**body)
    second = await client.messages.create(**body)
    assert first.usage.input_tokens == 0  # nothing follows the last breakpoint
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


async def test_max_tokens_zero_prewarms_the_cache_without_output(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    warm = await client.messages.create(
        model=MODEL, max_tokens=0, system=cached_system(guide), messages=user("hi")
    )
    assert warm.stop_reason == "max_tokens"
    assert warm.content == []
    assert warm.usage.output_tokens == 0
    assert warm.usage.cache_creation_input_tokens > 1024
    used = await client.messages.create(
        model=MODEL, max_tokens=50, system=cached_system(guide), messages=user("go")
    )
    assert used.usage.cache_read_input_tokens == warm.usage.cache_creation_input_tokens


@pytest.mark.parametrize(
    "extra",
    [
        {"stream": True},
        {
            "output_config": {
                "format": {
                    "type": "json_schema",
                    "schema": {"type": "object", "properties": {}, "additionalProperties": False},
                }
            }
        },
        {
            "tools": [{"name": "t", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
        },
    ],
)
async def test_prewarming_is_rejected_with_streaming_output_format_or_forced_tools(
    start_sandbox: StartSandbox, extra: dict[str, Any]
) -> None:
    client = start_sandbox().sync_client()
    with pytest.raises(anthropic.BadRequestError, match="pre-warming"):
        client.messages.create(model=MODEL, max_tokens=0, messages=user("hi"), **extra)
