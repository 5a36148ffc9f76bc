"""The ``batch_invalid`` fault: a batch item ends as an invalid request, in both vendors' shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from blockpass.packformat import RESULT_SCHEMA
from blockpass.sandbox import FaultPlan, SandboxConfig
from blockpass.sandbox.anthropic.batches import BatchSettings
from tests.sandbox.openai_support import RESULT_FORMAT, Connect, chat, openai_clients
from tests.sandbox.support import StartSandbox, pack

pytestmark = pytest.mark.anyio
CONFIG = SandboxConfig(batches=BatchSettings(processing_seconds=600))
EVERY_ITEM_INVALID = {"batch_invalid": 1.0}


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    async with openai_clients() as opened:
        yield opened


async def test_an_invalid_anthropic_batch_item_ends_errored_with_invalid_request_error(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(CONFIG, faults=FaultPlan(rates=EVERY_ITEM_INVALID))
    client = running.client()
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": pack("One.")}],
        "output_config": {"format": {"type": "json_schema", "schema": RESULT_SCHEMA}},
    }
    batch = await client.messages.batches.create(
        requests=[{"custom_id": f"p{n}", "params": params} for n in range(3)]  # type: ignore[typeddict-item]
    )

    running.clock.advance(600)

    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.request_counts.errored == 3
    results = [item.result async for item in await client.messages.batches.results(batch.id)]
    assert {result.type for result in results} == {"errored"}
    assert {result.error.error.type for result in results} == {"invalid_request_error"}  # type: ignore[union-attr]


async def test_an_invalid_openai_batch_item_is_a_400_line_in_the_error_file(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(CONFIG, faults=FaultPlan(rates=EVERY_ITEM_INVALID))
    client = connect(running)
    lines = [
        {
            "custom_id": f"r{n}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4.1-mini",
                "messages": chat("Apply the guide.", pack("One.")),
                "response_format": RESULT_FORMAT,
            },
        }
        for n in range(3)
    ]
    content = b"".join(json.dumps(entry).encode() + b"\n" for entry in lines)
    uploaded = await client.files.create(file=("in.jsonl", content), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )

    running.clock.advance(700)

    done = await client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert done.output_file_id is None  # every request failed
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (0, 3)
    assert done.error_file_id is not None
    text = (await client.files.content(done.error_file_id)).text
    responses = [json.loads(raw)["response"] for raw in text.splitlines()]
    assert [response["status_code"] for response in responses] == [400] * 3
    assert {response["body"]["error"]["type"] for response in responses} == {
        "invalid_request_error"
    }
