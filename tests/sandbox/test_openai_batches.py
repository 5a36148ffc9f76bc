"""Files and the Batch API through the official ``openai`` SDK, on the sandbox's manual clock.

With ``processing_seconds=600`` each of the short phases (validating, finalizing, cancelling)
lasts 30 seconds, and the items run in waves spread over the 600 seconds between.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest

from blockpass.sandbox import FaultPlan, ManualClock, SandboxConfig
from blockpass.sandbox.anthropic.batches import BatchSettings
from blockpass.sandbox.openai.batches import Batch, OpenAIBatchStore
from blockpass.sandbox.openai.cache import OpenAIPromptCache
from blockpass.sandbox.openai.files import FileStore
from blockpass.sandbox.responder import Responder
from tests.sandbox.openai_support import RESULT_FORMAT, Connect, chat, openai_clients
from tests.sandbox.support import StartSandbox, pack

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini"
PHASE = 30


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    async with openai_clients() as opened:
        yield opened


def line(custom_id: str, text: str, **extra: Any) -> dict[str, Any]:
    body = {
        "model": MODEL,
        "messages": chat("Apply the guide.", pack(text)),
        "response_format": RESULT_FORMAT,
        **extra,
    }
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(entry).encode() + b"\n" for entry in lines)


def batch_config(**settings: Any) -> SandboxConfig:
    return SandboxConfig(batches=BatchSettings(processing_seconds=600, **settings))


async def submit(client: openai.AsyncOpenAI, lines: list[dict[str, Any]]) -> openai.types.Batch:
    uploaded = await client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    return await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )


async def read_lines(client: openai.AsyncOpenAI, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    text = (await client.files.content(file_id)).text
    return {entry["custom_id"]: entry for entry in map(json.loads, text.splitlines())}


async def test_an_uploaded_file_reads_back_byte_for_byte(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox())
    content = jsonl([line("a", "One."), line("b", "Two.")])
    uploaded = await client.files.create(file=("requests.jsonl", content), purpose="batch")
    assert (uploaded.purpose, uploaded.bytes, uploaded.filename) == (
        "batch",
        len(content),
        "requests.jsonl",
    )
    assert (await client.files.retrieve(uploaded.id)).id == uploaded.id
    assert (await client.files.content(uploaded.id)).content == content
    with pytest.raises(openai.BadRequestError):
        await client.files.create(file=("x.jsonl", content), purpose="fine-tune")
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve("file-missing")


async def test_a_batch_runs_from_validating_to_completed_with_output_and_error_files(
    start_sandbox: StartSandbox, connect: Connect, google_rules: Path
) -> None:
    running = start_sandbox(
        SandboxConfig(rules=google_rules, batches=BatchSettings(processing_seconds=600))
    )
    client = connect(running)
    lines = [line(f"pack-{n}", f"Click OK to abort job {n}.") for n in range(5)]
    lines.append(line("too-long", "x", max_completion_tokens=10**6))
    batch = await submit(client, lines)
    assert batch.status == "validating"
    assert batch.expires_at is not None
    assert batch.expires_at - batch.created_at == 86_400
    running.clock.advance(PHASE)
    started = await client.batches.retrieve(batch.id)
    assert started.status == "in_progress"
    assert started.in_progress_at is not None
    running.clock.advance(600)
    finalizing = await client.batches.retrieve(batch.id)
    assert finalizing.status == "finalizing"
    assert finalizing.output_file_id is None
    running.clock.advance(PHASE)
    done = await client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert done.completed_at is not None
    assert done.request_counts is not None
    assert (
        done.request_counts.total,
        done.request_counts.completed,
        done.request_counts.failed,
    ) == (6, 5, 1)
    assert done.usage is not None
    assert done.usage.input_tokens > 0

    output = await read_lines(client, done.output_file_id)
    assert set(output) == {f"pack-{n}" for n in range(5)}
    response = output["pack-0"]["response"]
    assert response["status_code"] == 200
    assert output["pack-0"]["error"] is None
    verdicts = json.loads(response["body"]["choices"][0]["message"]["content"])["results"]
    assert verdicts[0]["verdict"] == "edit"
    assert response["body"]["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    errors = await read_lines(client, done.error_file_id)
    assert set(errors) == {"too-long"}
    failed = errors["too-long"]["response"]
    assert failed["status_code"] == 400
    assert failed["body"]["error"]["param"] == "max_completion_tokens"


async def test_a_batch_where_every_request_failed_completes_without_an_output_file(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(batch_config())
    client = connect(running)
    bad = {
        "type": "json_schema",
        "json_schema": {"name": "x", "schema": {"type": "object"}, "strict": True},
    }
    batch = await submit(client, [line(f"p{n}", "Text.", response_format=bad) for n in range(3)])
    running.clock.advance(PHASE + 600 + PHASE)
    done = await client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert done.output_file_id is None
    errors = await read_lines(client, done.error_file_id)
    assert {entry["response"]["status_code"] for entry in errors.values()} == {400}


async def test_a_file_that_breaks_the_rules_fails_the_batch_at_validation(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(batch_config())
    client = connect(running)
    lines = [line("a", "One."), line("a", "Two."), line("c", "Three.", model="gpt-5-mini")]
    batch = await submit(client, lines)
    running.clock.advance(PHASE)
    failed = await client.batches.retrieve(batch.id)
    assert failed.status == "failed"
    assert failed.failed_at is not None
    assert failed.errors is not None
    assert failed.errors.data is not None
    assert {error.code for error in failed.errors.data} == {
        "duplicate_custom_id",
        "mismatched_model",
    }
    assert failed.output_file_id is None
    assert failed.error_file_id is None


async def test_unfinished_requests_expire_after_24_hours_and_finished_ones_are_kept(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(
        batch_config(parallelism=1), faults=FaultPlan(rates={"batch_expired": 0.5}, seed=3)
    )
    client = connect(running)
    batch = await submit(client, [line(f"p{n}", f"Text {n}.") for n in range(10)])
    running.clock.advance(3600)
    assert (await client.batches.retrieve(batch.id)).status == "in_progress"
    running.clock.advance(86_400)
    expired = await client.batches.retrieve(batch.id)
    assert expired.status == "expired"
    assert expired.expired_at == expired.expires_at
    output = await read_lines(client, expired.output_file_id)
    errors = await read_lines(client, expired.error_file_id)
    assert output
    assert errors
    assert set(output) | set(errors) == {f"p{n}" for n in range(10)}
    assert {entry["error"]["code"] for entry in errors.values()} == {"batch_expired"}
    assert all(entry["response"] is None for entry in errors.values())


async def test_cancel_keeps_what_finished_and_reports_the_rest_as_cancelled(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(batch_config(parallelism=2))
    client = connect(running)
    batch = await submit(client, [line(f"p{n}", f"Text {n}.") for n in range(10)])
    running.clock.advance(PHASE + 250)  # waves end 120 s apart: two of five are done
    cancelling = await client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at is not None
    running.clock.advance(PHASE)
    cancelled = await client.batches.retrieve(batch.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None
    assert cancelled.request_counts is not None
    assert (cancelled.request_counts.completed, cancelled.request_counts.failed) == (4, 6)
    errors = await read_lines(client, cancelled.error_file_id)
    assert Counter(entry["error"]["code"] for entry in errors.values()) == Counter(
        {"batch_cancelled": 6}
    )
    with pytest.raises(openai.BadRequestError):
        await client.batches.cancel(batch.id)


async def test_batches_are_listed_newest_first_in_pages(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(batch_config())
    client = connect(running)
    ids = []
    for n in range(3):
        ids.append((await submit(client, [line("p", f"Text {n}.")])).id)
        running.clock.advance(1)
    first = await client.batches.list(limit=2)
    assert [batch.id for batch in first.data] == [ids[2], ids[1]]
    assert first.has_more
    listed = [batch.id async for batch in client.batches.list(limit=2)]
    assert listed == ids[::-1]


async def test_a_batch_needs_an_uploaded_batch_file_and_the_chat_endpoint(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    client = connect(start_sandbox())
    with pytest.raises(openai.NotFoundError):
        await client.batches.create(
            input_file_id="file-missing", endpoint="/v1/chat/completions", completion_window="24h"
        )
    uploaded = await client.files.create(
        file=("in.jsonl", jsonl([line("a", "One.")])), purpose="batch"
    )
    with pytest.raises(openai.BadRequestError, match="endpoint"):
        await client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h"
        )


def test_the_webhook_seam_hears_each_final_status_once() -> None:
    clock = ManualClock()
    files = FileStore(clock)
    heard: list[tuple[str, str]] = []
    store = OpenAIBatchStore(
        clock=clock,
        responder=Responder(),
        faults=FaultPlan(),
        settings=BatchSettings(processing_seconds=600),
        files=files,
        cache=OpenAIPromptCache(),
        on_finished=lambda batch, event: heard.append((batch.id, event)),
    )
    uploaded = files.add("in.jsonl", "batch", jsonl([line("a", "One.")]))
    batch: Batch = store.create(
        {
            "input_file_id": uploaded.id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
        }
    )
    clock.advance(PHASE + 600 + PHASE)
    store.advance_all()
    store.advance_all()
    assert heard == [(batch.id, "batch.completed")]
