"""OpenAI batch webhooks end to end: the sandbox signs and delivers, the run's receiver records,
the waiting run collects. The run polls once and then not again for an hour, so only the
webhook can end its wait."""

from __future__ import annotations

import base64
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from openai import AsyncOpenAI

from blockpass.cli import main
from blockpass.providers import model_profile, open_adapter
from blockpass.providers.batch_webhooks import create_run_receiver
from blockpass.providers.batches import BatchApi
from blockpass.sandbox import (
    DEFAULT_API_KEY,
    DEFAULT_WEBHOOK_SECRET,
    ManualClock,
    Sandbox,
    SandboxConfig,
    create_app,
    serve_in_thread,
)
from blockpass.sandbox.anthropic.batches import BatchSettings as SandboxBatches
from blockpass.store import BatchItemRecord, BatchState, RunStore, open_sqlite_store
from tests.providers.test_openai_webhooks import event_body, signed_headers

MODEL = "gpt-5-mini"
SIGNING_KEY = base64.b64decode(DEFAULT_WEBHOOK_SECRET.removeprefix("whsec_"))


class LateBoundApi:
    """The receiver must exist before the sandbox (whose config names its URL), and the batch
    API needs the sandbox's URL: this forwards to the API once both are up."""

    api: BatchApi | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.api, name)


def openai_batches(base_url: str) -> BatchApi:
    provider = open_adapter(
        model_profile(MODEL), api_key=DEFAULT_API_KEY, base_url=f"{base_url}/v1", name="openai"
    )
    api = provider.batches
    assert api is not None
    return api


@pytest.mark.slow
def test_a_valid_signed_webhook_completes_a_batch_job_waiting_an_hour_between_polls(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = tmp_path / "book"
    book.mkdir()
    for chapter in sorted((shared_data / "corpora" / "rust-book").glob("ch02*.md")):
        shutil.copy(chapter, book / chapter.name)
    out = tmp_path / "out"
    store = anyio.run(open_sqlite_store, out)
    late = LateBoundApi()
    receiver = create_run_receiver(store, late, secret=DEFAULT_WEBHOOK_SECRET)  # type: ignore[arg-type]
    with serve_in_thread(receiver) as hooks:
        sandbox = Sandbox(
            SandboxConfig(
                rules=shared_data / "styles" / "Google" / "Google",
                webhook_url=f"{hooks.base_url}/webhooks/openai",
                batches=SandboxBatches(processing_seconds=0.5),
            )
        )
        with serve_in_thread(create_app(sandbox)) as server:
            late.api = openai_batches(server.base_url)
            monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_API_KEY)
            arguments = [
                "run", str(book), "--guide", str(shared_data / "guides" / "18f-content-guide"),
                "--provider", "openai", "--base-url", f"{server.base_url}/v1", "--model", MODEL,
                "--mode", "batch", "--poll-interval", "3600", "--poll-max", "3600",
                # Two packs, so a priming batch and the rest: two webhooks.
                "--batch-max-blocks", "100", "--out", str(out),
            ]  # fmt: skip
            codes: list[int] = []
            runner = threading.Thread(target=lambda: codes.append(main(arguments)), daemon=True)
            runner.start()
            runner.join(timeout=120)
            assert codes == [0], "the run did not finish within 2 minutes"
            stats = sandbox.stats.as_json()
    anyio.run(store.close)
    report = json.loads((out / "report.json").read_text())
    assert report["mode"] == "batch"
    assert report["timing"]["batches"] == 2
    assert stats["webhooks"]["sent"] == 2
    lines = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert {line["outcome"] for line in lines} <= {"result", "skipped"}


async def stored_batch(store: RunStore, remote_id: str) -> tuple[BatchState, str]:
    batch = await store.batch_by_remote_id(remote_id)
    assert batch is not None
    return batch.state, batch.remote_status


@pytest.mark.anyio
async def test_a_bad_signature_an_old_timestamp_and_a_replay_are_rejected_and_change_nothing(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=time.time())
    sandbox = Sandbox(SandboxConfig(), clock=clock)
    store = await open_sqlite_store(tmp_path / "out")
    with serve_in_thread(create_app(sandbox)) as server:
        api = openai_batches(server.base_url)
        # A finished batch the run knows, still recorded as submitted.
        client = AsyncOpenAI(api_key=DEFAULT_API_KEY, base_url=f"{server.base_url}/v1")
        line = {
            "custom_id": "p-1",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        }
        upload = await client.files.create(
            file=("in.jsonl", json.dumps(line).encode(), "application/jsonl"), purpose="batch"
        )
        remote = await client.batches.create(
            input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        await client.close()
        clock.advance(120)
        stored = await store.add_batch(
            label="l", provider="openai", items=[BatchItemRecord(custom_id="p-1", block_ids=())]
        )
        await store.update_batch(stored.id, BatchState.SUBMITTED, remote_id=remote.id)
        with serve_in_thread(
            create_run_receiver(store, api, secret=DEFAULT_WEBHOOK_SECRET)
        ) as hooks:
            url = f"{hooks.base_url}/webhooks/openai"
            body = event_body(batch_id=remote.id)
            async with httpx2.AsyncClient() as http:

                async def post(headers: dict[str, str]) -> int:
                    return (await http.post(url, content=body, headers=headers)).status_code

                def retrieves() -> int:
                    return sandbox.stats.requests[f"GET /v1/batches/{remote.id}"]

                before = retrieves()
                assert await post(signed_headers(body, key=b"another key", webhook_id="m1")) == 400
                assert (
                    await post(signed_headers(body, key=SIGNING_KEY, age=600, webhook_id="m2"))
                    == 400
                )
                assert await stored_batch(store, remote.id) == (BatchState.SUBMITTED, "")
                assert retrieves() == before
                valid = signed_headers(body, key=SIGNING_KEY, webhook_id="m3")
                assert await post(valid) == 200
                assert (await stored_batch(store, remote.id))[0] is BatchState.ENDED
                after = retrieves()
                assert after == before + 1
                await store.update_batch(stored.id, BatchState.SUBMITTED)
                assert await post(valid) == 409
                assert retrieves() == after
    await store.close()
