"""Message Batches end to end through the SDK, on the sandbox's manual clock."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import pytest

from blockpass.packformat import RESULT_SCHEMA
from blockpass.sandbox import DEFAULT_API_KEY, FaultPlan, SandboxConfig
from blockpass.sandbox.anthropic.batches import BatchSettings
from tests.sandbox.support import StartSandbox, cached_system, pack

pytestmark = pytest.mark.anyio
MODEL = "claude-sonnet-4-5"


def params(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": pack(text)}],
        "output_config": {"format": {"type": "json_schema", "schema": RESULT_SCHEMA}},
        **extra,
    }


def batch_config(**settings: Any) -> SandboxConfig:
    return SandboxConfig(batches=BatchSettings(processing_seconds=600, **settings))


async def test_a_batch_runs_from_creation_to_results_parsed_by_the_sdk(
    start_sandbox: StartSandbox, google_rules: Path
) -> None:
    running = start_sandbox(
        SandboxConfig(rules=google_rules, batches=BatchSettings(processing_seconds=600))
    )
    client = running.client()
    requests = [
        {"custom_id": f"pack-{n}", "params": params(f"Click OK to abort job {n}.")}
        for n in range(5)
    ]
    requests.append({"custom_id": "bad-model", "params": params("x", model="claude-imaginary")})
    requests.append(
        {"custom_id": "prewarm", "params": params("x", max_tokens=0, output_config=None)}
    )

    batch = await client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 7
    assert batch.results_url is None
    assert (batch.expires_at - batch.created_at).total_seconds() == 86_400

    running.clock.advance(300)
    halfway = await client.messages.batches.retrieve(batch.id)
    assert halfway.processing_status == "in_progress"
    assert halfway.request_counts.processing == 7  # counts move only when the batch ends

    running.clock.advance(300)
    done = await client.messages.batches.retrieve(batch.id)
    assert done.processing_status == "ended"
    assert done.ended_at is not None
    assert done.request_counts.succeeded == 5
    assert done.request_counts.errored == 2

    results = {
        item.custom_id: item.result
        async for item in await client.messages.batches.results(batch.id)
    }
    assert set(results) == {r["custom_id"] for r in requests}
    succeeded = results["pack-0"]
    assert succeeded.type == "succeeded"
    verdicts = json.loads(succeeded.message.content[0].text)["results"]  # type: ignore[union-attr]
    assert verdicts[0]["verdict"] == "edit"
    assert succeeded.message.usage.service_tier == "batch"  # type: ignore[union-attr]
    bad = results["bad-model"]
    assert bad.type == "errored"
    assert bad.error.error.type == "not_found_error"  # type: ignore[union-attr]
    prewarm = results["prewarm"]
    assert prewarm.type == "errored"
    assert prewarm.error.error.type == "invalid_request_error"  # type: ignore[union-attr]


async def test_unfinished_items_expire_after_24_hours_and_finished_ones_are_kept(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(
        batch_config(parallelism=1), faults=FaultPlan(rates={"batch_expired": 0.5}, seed=3)
    )
    client = running.client()
    batch = await client.messages.batches.create(
        requests=[{"custom_id": f"p{n}", "params": params(f"Text {n}.")} for n in range(10)]  # type: ignore[misc]
    )
    running.clock.advance(3600)
    assert (await client.messages.batches.retrieve(batch.id)).processing_status == "in_progress"
    running.clock.advance(86_400)
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert ended.ended_at == ended.expires_at
    counts = ended.request_counts
    assert counts.expired > 0
    assert counts.succeeded > 0
    assert counts.succeeded + counts.expired == 10
    kinds = Counter(
        [item.result.type async for item in await client.messages.batches.results(batch.id)]
    )
    assert kinds == Counter({"succeeded": counts.succeeded, "expired": counts.expired})


async def test_errored_items_are_injected_by_rate_with_a_retryable_error(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(batch_config(), faults=FaultPlan(rates={"batch_errored": 0.3}, seed=1))
    client = running.client()
    batch = await client.messages.batches.create(
        requests=[{"custom_id": f"p{n}", "params": params(f"Text {n}.")} for n in range(20)]  # type: ignore[misc]
    )
    running.clock.advance(600)
    results = [item.result async for item in await client.messages.batches.results(batch.id)]
    errored = [result for result in results if result.type == "errored"]
    assert 0 < len(errored) < 20
    assert {result.error.error.type for result in errored} == {"overloaded_error"}  # type: ignore[union-attr]


async def test_cancel_ends_the_batch_with_unprocessed_items_canceled(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(batch_config(parallelism=2))
    client = running.client()
    batch = await client.messages.batches.create(
        requests=[{"custom_id": f"p{n}", "params": params(f"Text {n}.")} for n in range(10)]  # type: ignore[misc]
    )
    running.clock.advance(250)  # waves end at 120 s, 240 s, ...: two of five are done
    canceling = await client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    running.clock.advance(1)
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (4, 6)


async def test_delete_needs_an_ended_batch_and_then_it_is_gone(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(batch_config())
    client = running.client()
    batch = await client.messages.batches.create(
        requests=[{"custom_id": "a", "params": params("x")}]
    )  # type: ignore[list-item]
    with pytest.raises(anthropic.BadRequestError, match="still processing"):
        await client.messages.batches.delete(batch.id)
    running.clock.advance(600)
    deleted = await client.messages.batches.delete(batch.id)
    assert deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.batches.retrieve(batch.id)


async def test_list_pages_newest_first(start_sandbox: StartSandbox) -> None:
    running = start_sandbox(batch_config())
    client = running.client()
    created = []
    for n in range(5):
        created.append(
            (
                await client.messages.batches.create(
                    requests=[{"custom_id": "a", "params": params(str(n))}]
                )
            ).id
        )  # type: ignore[list-item]
        running.clock.advance(1)
    listed = [batch.id async for batch in client.messages.batches.list(limit=2)]
    assert listed == created[::-1]


@pytest.mark.parametrize(
    ("custom_ids", "complaint"),
    [(["has space"], "custom_id"), (["x" * 65], "custom_id"), (["same", "same"], "duplicate")],
)
async def test_custom_ids_must_match_the_pattern_and_be_unique(
    start_sandbox: StartSandbox, custom_ids: list[str], complaint: str
) -> None:
    client = start_sandbox().client()
    with pytest.raises(anthropic.BadRequestError, match=complaint):
        await client.messages.batches.create(
            requests=[{"custom_id": custom_id, "params": params("x")} for custom_id in custom_ids]  # type: ignore[misc]
        )


@pytest.mark.slow
async def test_more_than_100000_requests_is_too_large(start_sandbox: StartSandbox) -> None:
    running = start_sandbox()
    small = {"model": MODEL, "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}
    body = {"requests": [{"custom_id": f"r{n}", "params": small} for n in range(100_001)]}
    response = httpx2.post(
        f"{running.server.base_url}/v1/messages/batches",
        json=body,
        headers={"x-api-key": DEFAULT_API_KEY, "anthropic-version": "2026-10-21"},
        timeout=60,
    )
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large"


async def test_batch_items_cache_across_waves_but_not_from_realtime_calls(
    start_sandbox: StartSandbox, guide: str
) -> None:
    running = start_sandbox(batch_config(parallelism=4, cache_hit_rate=1.0))
    client = running.client()
    system = cached_system(guide, ttl="1h")
    await client.messages.create(
        model=MODEL, max_tokens=10, system=system, messages=[{"role": "user", "content": "warm"}]
    )
    batch = await client.messages.batches.create(
        requests=[
            {"custom_id": f"p{n}", "params": params(f"Text {n}.", system=system)} for n in range(12)
        ]  # type: ignore[misc]
    )
    running.clock.advance(600)
    usages = {
        item.custom_id: item.result.message.usage  # type: ignore[union-attr]
        async for item in await client.messages.batches.results(batch.id)
    }
    first_wave = [usages[f"p{n}"] for n in range(4)]
    later = [usages[f"p{n}"] for n in range(4, 12)]
    assert all(
        usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens > 0
        for usage in first_wave
    )
    assert all(usage.cache_read_input_tokens > 0 for usage in later)
