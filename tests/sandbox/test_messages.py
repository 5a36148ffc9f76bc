"""/v1/messages and /v1/messages/count_tokens: validation, errors, streaming, the responder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import jsonschema
import pytest

from blockpass.packformat import RESULT_SCHEMA, RESULT_TOOL_NAME
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from blockpass.tokens import count_tokens
from tests.sandbox.support import StartSandbox, pack, scripted, user

pytestmark = pytest.mark.anyio
MODEL = "claude-sonnet-4-5"
FORMAT = {"format": {"type": "json_schema", "schema": RESULT_SCHEMA}}
PARAGRAPHS = (
    "Click OK to abort the install.",  # Google.WordList: OK->... abort->stop
    "We will configure the server.",  # Google.We, Google.Will: existence
    "The build finishes in seconds.",
)


async def test_a_missing_or_wrong_api_key_gets_401(start_sandbox: StartSandbox) -> None:
    """PROVIDERS.md names only ``x-api-key``; SDK 2.13 sends ``Authorization: Bearer <key>``,
    so the real API accepts both, and so does the sandbox."""
    running = start_sandbox()
    wrong = running.client(api_key="not-the-key")
    with pytest.raises(anthropic.AuthenticationError, match="invalid x-api-key"):
        await wrong.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    as_header = httpx2.post(
        f"{running.server.base_url}/v1/messages/count_tokens",
        json={"model": MODEL, "messages": user("hi")},
        headers={"x-api-key": DEFAULT_API_KEY},
    )
    assert as_header.status_code == 200
    response = httpx2.post(f"{running.server.base_url}/v1/messages", json={})
    assert response.status_code == 401
    body = response.json()
    assert body["type"] == "error"
    assert body["error"] == {
        "type": "authentication_error",
        "message": "x-api-key header is required",
    }
    assert body["request_id"].startswith("req_")
    assert response.headers["request-id"] == body["request_id"]


async def test_an_unknown_model_gets_404_not_found(start_sandbox: StartSandbox) -> None:
    client = start_sandbox().client()
    with pytest.raises(anthropic.NotFoundError) as caught:
        await client.messages.create(model="claude-imaginary-9", max_tokens=10, messages=user("hi"))
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model: claude-imaginary-9"},
        "request_id": caught.value.request_id,
    }


@pytest.mark.parametrize(
    ("model", "rejected"),
    [("claude-sonnet-5-5", True), ("claude-opus-5-5", True), ("claude-sonnet-4-5", False)],
)
async def test_forced_tool_choice_is_rejected_by_models_that_do_not_support_it(
    start_sandbox: StartSandbox, model: str, rejected: bool
) -> None:
    client = start_sandbox().client()
    tools = [{"name": RESULT_TOOL_NAME, "input_schema": RESULT_SCHEMA, "strict": True}]
    call = client.messages.create(
        model=model,
        max_tokens=500,
        tools=tools,
        tool_choice={"type": "tool", "name": RESULT_TOOL_NAME},
        messages=user(pack("Hello.")),
    )
    if rejected:
        with pytest.raises(anthropic.BadRequestError, match="forced tool use"):
            await call
    else:
        message = await call
        assert message.stop_reason == "tool_use"
        assert message.content[0].type == "tool_use"


async def test_prefill_is_rejected_by_claude_4_6_and_newer_only(
    start_sandbox: StartSandbox,
) -> None:
    client = start_sandbox().client()
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{"}]
    with pytest.raises(anthropic.BadRequestError, match="Prefilling"):
        await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=conversation
        )
    accepted = await client.messages.create(
        model="claude-sonnet-4-5", max_tokens=10, messages=conversation
    )
    assert accepted.stop_reason in ("end_turn", "max_tokens")


async def test_sampling_parameters_are_rejected_under_the_sdk_api_version(
    start_sandbox: StartSandbox,
) -> None:
    client = start_sandbox().client()
    with pytest.raises(anthropic.BadRequestError, match="temperature"):
        # SDK 2.13 no longer has a `temperature` argument; older callers send it in the body.
        await client.messages.create(
            model=MODEL, max_tokens=10, messages=user("hi"), extra_body={"temperature": 0.2}
        )


@pytest.mark.parametrize(
    ("schema", "complaint"),
    [
        ({"type": "object", "properties": {}}, "additionalProperties"),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string", "maxLength": 3}},
                "additionalProperties": False,
            },
            "maxLength",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "array", "minItems": 2}},
                "additionalProperties": False,
            },
            "minItems",
        ),
    ],
)
async def test_structured_output_schemas_beyond_the_documented_limits_are_rejected(
    start_sandbox: StartSandbox, schema: dict[str, Any], complaint: str
) -> None:
    client = start_sandbox().client()
    with pytest.raises(anthropic.BadRequestError, match=complaint):
        await client.messages.create(
            model=MODEL,
            max_tokens=10,
            messages=user("hi"),
            output_config={"format": {"type": "json_schema", "schema": schema}},
        )


async def test_max_tokens_above_the_model_maximum_is_rejected(start_sandbox: StartSandbox) -> None:
    client = start_sandbox().client()
    with pytest.raises(anthropic.BadRequestError, match="maximum allowed number of output tokens"):
        # An explicit timeout stops the SDK from refusing a large non-streaming max_tokens itself.
        await client.messages.create(
            model=MODEL, max_tokens=64_001, messages=user("hi"), timeout=30
        )


async def test_count_tokens_counts_with_the_documented_tokenizer_per_model(
    start_sandbox: StartSandbox, guide: str
) -> None:
    client = start_sandbox().client()
    classic = await client.messages.count_tokens(model=MODEL, system=guide, messages=user("hi"))
    dense = await client.messages.count_tokens(
        model="claude-sonnet-5-5", system=guide, messages=user("hi")
    )
    assert classic.input_tokens == count_tokens(guide) + count_tokens("hi")
    assert 1.2 < dense.input_tokens / classic.input_tokens < 1.4


async def test_the_responder_gives_a_schema_valid_verdict_for_every_block(
    start_sandbox: StartSandbox, google_rules: Path
) -> None:
    client = start_sandbox(SandboxConfig(rules=google_rules)).client()
    message = await client.messages.create(
        model=MODEL, max_tokens=2000, messages=user(pack(*PARAGRAPHS)), output_config=FORMAT
    )
    assert message.stop_reason == "end_turn"
    result = json.loads(message.content[0].text)
    jsonschema.validate(result, RESULT_SCHEMA)
    verdicts = {item["id"]: item for item in result["results"]}
    assert list(verdicts) == ["b1", "b2", "b3"]
    assert verdicts["b1"]["verdict"] == "edit"
    assert {"find": "abort", "replace": "stop", "rule": "Google.WordList"} in verdicts["b1"][
        "edits"
    ]
    assert verdicts["b2"]["verdict"] == "flag"
    assert verdicts["b3"] == {"id": "b3", "verdict": "ok"}
    assert message.usage.output_tokens == count_tokens(message.content[0].text)


async def test_the_responder_answers_through_a_strict_tool_when_asked(
    start_sandbox: StartSandbox, google_rules: Path
) -> None:
    client = start_sandbox(SandboxConfig(rules=google_rules)).client()
    tools = [{"name": RESULT_TOOL_NAME, "input_schema": RESULT_SCHEMA, "strict": True}]
    message = await client.messages.create(
        model="claude-sonnet-5-5",
        max_tokens=2000,
        tools=tools,
        tool_choice={"type": "auto"},
        messages=user(pack(*PARAGRAPHS)),
    )
    assert message.stop_reason == "tool_use"
    call = message.content[0]
    assert call.type == "tool_use"
    assert call.name == RESULT_TOOL_NAME
    jsonschema.validate(call.input, RESULT_SCHEMA)
    assert len(call.input["results"]) == 3  # type: ignore[index]


async def test_any_other_schema_gets_its_smallest_valid_instance(
    start_sandbox: StartSandbox,
) -> None:
    client = start_sandbox().client()
    schema = {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "level": {"enum": ["low", "high"]},
        },
        "required": ["title", "tags", "level"],
        "additionalProperties": False,
    }
    message = await client.messages.create(
        model=MODEL,
        max_tokens=100,
        messages=user("Describe."),
        output_config={"format": {"type": "json_schema", "schema": schema}},
    )
    value = json.loads(message.content[0].text)
    jsonschema.validate(value, schema)


async def test_max_tokens_truncates_the_output_exactly_as_the_api_does(
    start_sandbox: StartSandbox, google_rules: Path
) -> None:
    client = start_sandbox(SandboxConfig(rules=google_rules)).client()
    full = await client.messages.create(
        model=MODEL, max_tokens=2000, messages=user(pack(*PARAGRAPHS)), output_config=FORMAT
    )
    cut = await client.messages.create(
        model=MODEL, max_tokens=25, messages=user(pack(*PARAGRAPHS)), output_config=FORMAT
    )
    assert cut.stop_reason == "max_tokens"
    assert cut.usage.output_tokens == 25
    assert full.content[0].text.startswith(cut.content[0].text)  # type: ignore[union-attr]
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content[0].text)  # type: ignore[union-attr]


async def test_streaming_sends_the_documented_event_sequence(
    start_sandbox: StartSandbox, google_rules: Path, guide: str
) -> None:
    client = start_sandbox(SandboxConfig(rules=google_rules)).client()
    kinds: list[str] = []
    async with client.messages.stream(
        model=MODEL,
        max_tokens=2000,
        system=[{"type": "text", "text": guide, "cache_control": {"type": "ephemeral"}}],
        messages=user(pack(*PARAGRAPHS)),
        output_config=FORMAT,
    ) as stream:
        async for event in stream:
            kinds.append(event.type)
        final = await stream.get_final_message()
    raw = [kind for kind in kinds if kind not in ("text", "input_json")]  # SDK helper events
    assert raw[:2] == ["message_start", "content_block_start"]  # the SDK swallows pings
    assert raw[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(raw[2:-3]) == {"content_block_delta"}
    jsonschema.validate(json.loads(final.content[0].text), RESULT_SCHEMA)  # type: ignore[union-attr]
    assert final.usage.cache_creation_input_tokens > 1024
    assert final.usage.output_tokens == count_tokens(final.content[0].text)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("drop_ids", lambda ids: ids == ["b1", "b3"]),
        ("duplicate_ids", lambda ids: ids == ["b1", "b2", "b3", "b1"]),
        (
            "invent_ids",
            lambda ids: ids[:3] == ["b1", "b2", "b3"] and ids[3] not in ("b1", "b2", "b3"),
        ),
        ("reorder_ids", lambda ids: ids == ["b3", "b2", "b1"]),
    ],
)
async def test_output_knobs_damage_the_ids_as_scripted(
    start_sandbox: StartSandbox, fault: str, check: Any
) -> None:
    client = start_sandbox(faults=scripted(fault)).client()
    message = await client.messages.create(
        model=MODEL, max_tokens=2000, messages=user(pack(*PARAGRAPHS)), output_config=FORMAT
    )
    ids = [item["id"] for item in json.loads(message.content[0].text)["results"]]  # type: ignore[union-attr]
    assert check(ids)


async def test_malformed_json_and_refusal_knobs(start_sandbox: StartSandbox) -> None:
    client = start_sandbox(faults=scripted("malformed_json,refusal,truncate")).client()
    broken = await client.messages.create(
        model=MODEL, max_tokens=2000, messages=user(pack(*PARAGRAPHS)), output_config=FORMAT
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content[0].text)  # type: ignore[union-attr]
    refused = await client.messages.create(
        model=MODEL, max_tokens=2000, messages=user(pack(*PARAGRAPHS)), output_config=FORMAT
    )
    assert refused.stop_reason == "refusal"
    assert refused.content == []
    truncated = await client.messages.create(
        model=MODEL, max_tokens=2000, messages=user(pack(*PARAGRAPHS)), output_config=FORMAT
    )
    assert truncated.stop_reason == "max_tokens"
    assert truncated.usage.output_tokens < 2000


async def test_the_sandbox_counts_requests_and_usage_for_other_processes(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox()
    client = running.client()
    await client.messages.create(model=MODEL, max_tokens=10, messages=user("hi"))
    stats = httpx2.get(f"{running.server.base_url}/_sandbox/stats").json()
    assert stats["requests"]["POST /v1/messages"] == 1
    assert stats["usage"]["input_tokens"] == count_tokens("hi")
    assert DEFAULT_API_KEY not in json.dumps(stats)
