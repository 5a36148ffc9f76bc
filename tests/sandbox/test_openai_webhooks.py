"""Signed webhooks for finished OpenAI batches, checked with the official ``openai`` SDK.

A small Starlette receiver on 127.0.0.1 records every delivery; the tests wait for it with a
bounded wait and verify what arrived with ``client.webhooks.unwrap``, which checks
``webhook-timestamp`` against the wall clock: the sandbox stamps deliveries with the wall
clock and puts the sandbox clock's time in the body's ``created_at``.

With ``processing_seconds=600`` a small batch completes 660 sandbox seconds after creation.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import anthropic as anthropic_sdk
import anyio
import anyio.to_thread
import httpx2
import openai
import pytest
from openai.types.webhooks import (
    BatchCancelledWebhookEvent,
    BatchCompletedWebhookEvent,
    BatchExpiredWebhookEvent,
    BatchFailedWebhookEvent,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from blockpass.sandbox import (
    DEFAULT_WEBHOOK_SECRET,
    FaultPlan,
    Sandbox,
    SandboxConfig,
    create_app,
    serve_in_thread,
)
from blockpass.sandbox.anthropic.batches import BatchSettings
from tests.sandbox.openai_support import RESULT_FORMAT, Connect, chat, openai_clients
from tests.sandbox.support import RunningSandbox, StartSandbox, pack

pytestmark = pytest.mark.anyio
MODEL = "gpt-4.1-mini"
WAIT_SECONDS = 10.0
QUICK_RETRIES = (0.01, 0.01, 0.01)
OTHER_SECRET = "whsec_" + base64.b64encode(b"another secret of 24 bytes").decode()


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload


class Receiver:
    """Answers each delivery with the next scripted status (200 once the script is used up)."""

    def __init__(self, statuses: Iterable[int]) -> None:
        self._statuses = deque(statuses)
        self._deliveries: list[Delivery] = []
        self._arrived = threading.Condition()

    def app(self) -> Starlette:
        async def receive(request: Request) -> Response:
            body = await request.body()
            with self._arrived:
                self._deliveries.append(Delivery(dict(request.headers), body))
                status = self._statuses.popleft() if self._statuses else 200
                self._arrived.notify_all()
            return Response(status_code=status)

        return Starlette(routes=[Route("/hook", receive, methods=["POST"])])

    async def deliveries(self, count: int) -> list[Delivery]:
        """The first ``count`` deliveries, once they have arrived (bounded wait)."""

        def wait() -> bool:
            with self._arrived:
                return self._arrived.wait_for(
                    lambda: len(self._deliveries) >= count, timeout=WAIT_SECONDS
                )

        arrived = await anyio.to_thread.run_sync(wait)
        assert arrived, f"{len(self._deliveries)} of {count} deliveries within {WAIT_SECONDS} s"
        return self._deliveries[:count]


StartReceiver = Callable[..., tuple[Receiver, str]]


@pytest.fixture
def start_receiver() -> Iterator[StartReceiver]:
    with ExitStack() as stack:

        def start(statuses: Iterable[int] = ()) -> tuple[Receiver, str]:
            receiver = Receiver(statuses)
            server = stack.enter_context(serve_in_thread(receiver.app()))
            return receiver, f"{server.base_url}/hook"

        yield start


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    async with openai_clients() as opened:
        yield opened


def webhook_config(url: str, **options: Any) -> SandboxConfig:
    options.setdefault("webhook_retry_delays", QUICK_RETRIES)
    return SandboxConfig(batches=BatchSettings(processing_seconds=600), webhook_url=url, **options)


def line(custom_id: str, text: str, model: str = MODEL) -> dict[str, Any]:
    body = {
        "model": model,
        "messages": chat("Apply the guide.", pack(text)),
        "response_format": RESULT_FORMAT,
    }
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


async def submit(client: openai.AsyncOpenAI, lines: list[dict[str, Any]]) -> openai.types.Batch:
    content = b"".join(json.dumps(entry).encode() + b"\n" for entry in lines)
    uploaded = await client.files.create(file=("in.jsonl", content), purpose="batch")
    return await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )


async def advance(running: RunningSandbox, seconds: float) -> None:
    async with httpx2.AsyncClient(base_url=running.server.base_url) as http:
        response = await http.post("/_sandbox/clock/advance", json={"seconds": seconds})
        response.raise_for_status()


async def stats(running: RunningSandbox) -> dict[str, Any]:
    async with httpx2.AsyncClient(base_url=running.server.base_url) as http:
        response = await http.get("/_sandbox/stats")
        response.raise_for_status()
        payload: dict[str, Any] = response.json()
        return payload


async def settled_webhook_stats(
    running: RunningSandbox, done: Callable[[dict[str, int]], bool]
) -> dict[str, int]:
    """The webhook counters once ``done`` holds: the sandbox counts an attempt's outcome just
    after the receiver has answered, so a test that saw the delivery may be a moment early."""
    with anyio.fail_after(WAIT_SECONDS):
        while True:
            counters: dict[str, int] = (await stats(running))["webhooks"]
            if done(counters):
                return counters


def unwrap(delivery: Delivery, secret: str = DEFAULT_WEBHOOK_SECRET) -> object:
    with openai.OpenAI(api_key="unused", webhook_secret=secret) as client:
        return client.webhooks.unwrap(delivery.body, delivery.headers)


async def test_a_finished_batch_is_announced_by_a_signed_webhook(
    start_sandbox: StartSandbox, start_receiver: StartReceiver, connect: Connect
) -> None:
    receiver, url = start_receiver()
    running = start_sandbox(webhook_config(url))
    client = connect(running)
    batch = await submit(client, [line("a", "One."), line("b", "Two.")])

    await advance(running, 700)  # nobody looks at the batch: moving the clock is enough
    [delivery] = await receiver.deliveries(1)

    finished = await client.batches.retrieve(batch.id)
    assert finished.status == "completed"
    event = delivery.event
    assert event["id"].startswith("evt_")
    assert event == {
        "id": event["id"],
        "object": "event",
        "type": "batch.completed",
        "created_at": finished.completed_at,
        "data": {"id": batch.id},
    }
    assert finished.completed_at == batch.created_at + 660  # the sandbox clock's time

    webhook_id = delivery.headers["webhook-id"]
    timestamp = delivery.headers["webhook-timestamp"]
    assert webhook_id.startswith("wh_")
    assert abs(int(timestamp) - time.time()) < 60  # the wall clock's time
    assert delivery.headers["content-type"] == "application/json"
    key = base64.b64decode(DEFAULT_WEBHOOK_SECRET.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + delivery.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert delivery.headers["webhook-signature"] == f"v1,{expected}"

    unwrapped = unwrap(delivery)
    assert isinstance(unwrapped, BatchCompletedWebhookEvent)
    assert unwrapped.data.id == batch.id
    with pytest.raises(openai.InvalidWebhookSignatureError):
        unwrap(delivery, secret=OTHER_SECRET)

    counters = await settled_webhook_stats(running, lambda counters: counters["sent"] == 1)
    assert counters == {"attempts": 1, "sent": 1, "retried": 0, "failed": 0}


async def test_a_batch_nobody_looks_at_is_announced_by_the_sandbox_timer(
    start_sandbox: StartSandbox, start_receiver: StartReceiver, connect: Connect
) -> None:
    receiver, url = start_receiver()
    running = start_sandbox(webhook_config(url))
    batch = await submit(connect(running), [line("a", "One.")])

    running.clock.advance(700)  # behind the server's back: no request follows
    [delivery] = await receiver.deliveries(1)

    assert delivery.event["type"] == "batch.completed"
    assert delivery.event["data"] == {"id": batch.id}


async def test_a_receiver_answering_500_gets_the_same_event_again_until_it_accepts(
    start_sandbox: StartSandbox, start_receiver: StartReceiver, connect: Connect
) -> None:
    receiver, url = start_receiver(statuses=[500, 500])
    running = start_sandbox(webhook_config(url))
    batch = await submit(connect(running), [line("a", "One.")])

    await advance(running, 700)
    deliveries = await receiver.deliveries(3)

    assert {delivery.body for delivery in deliveries} == {deliveries[0].body}
    assert {delivery.headers["webhook-id"] for delivery in deliveries} == {
        deliveries[0].headers["webhook-id"]
    }
    for delivery in deliveries:  # each attempt is signed afresh with its own timestamp
        unwrapped = unwrap(delivery)
        assert isinstance(unwrapped, BatchCompletedWebhookEvent)
        assert unwrapped.data.id == batch.id
    counters = await settled_webhook_stats(running, lambda counters: counters["sent"] == 1)
    assert counters == {"attempts": 3, "sent": 1, "retried": 2, "failed": 0}


async def test_a_receiver_that_never_accepts_is_given_up_on_after_the_last_retry(
    start_sandbox: StartSandbox, start_receiver: StartReceiver, connect: Connect
) -> None:
    receiver, url = start_receiver(statuses=[503] * 10)
    running = start_sandbox(webhook_config(url, webhook_retry_delays=(0.01, 0.01)))
    await submit(connect(running), [line("a", "One.")])

    await advance(running, 700)
    await receiver.deliveries(3)

    counters = await settled_webhook_stats(running, lambda counters: counters["failed"] == 1)
    assert counters == {"attempts": 3, "sent": 0, "retried": 2, "failed": 1}


async def test_an_unreachable_receiver_is_retried_and_then_counted_as_failed(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago refuses connections
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = start_sandbox(
        webhook_config(f"http://127.0.0.1:{port}/hook", webhook_retry_delays=(0.01,))
    )
    await submit(connect(running), [line("a", "One.")])

    await advance(running, 700)

    counters = await settled_webhook_stats(running, lambda counters: counters["failed"] == 1)
    assert counters == {"attempts": 2, "sent": 0, "retried": 1, "failed": 1}


async def test_an_expired_batch_announces_batch_expired(
    start_sandbox: StartSandbox, start_receiver: StartReceiver, connect: Connect
) -> None:
    receiver, url = start_receiver()
    running = start_sandbox(
        webhook_config(url, webhook_secret=OTHER_SECRET),
        faults=FaultPlan(rates={"batch_expired": 1.0}),
    )
    client = connect(running)
    batch = await submit(client, [line("a", "One."), line("b", "Two.")])

    await advance(running, 3600)
    assert (await client.batches.retrieve(batch.id)).status == "in_progress"
    await advance(running, 86_400)
    [delivery] = await receiver.deliveries(1)

    unwrapped = unwrap(delivery, secret=OTHER_SECRET)
    assert isinstance(unwrapped, BatchExpiredWebhookEvent)
    assert unwrapped.data.id == batch.id
    expired = await client.batches.retrieve(batch.id)
    assert expired.status == "expired"
    assert unwrapped.created_at == expired.expired_at == expired.expires_at


async def test_a_cancelled_batch_announces_batch_cancelled(
    start_sandbox: StartSandbox, start_receiver: StartReceiver, connect: Connect
) -> None:
    receiver, url = start_receiver()
    running = start_sandbox(webhook_config(url))
    client = connect(running)
    batch = await submit(client, [line("a", "One.")])

    assert (await client.batches.cancel(batch.id)).status == "cancelling"
    await advance(running, 60)
    [delivery] = await receiver.deliveries(1)

    unwrapped = unwrap(delivery)
    assert isinstance(unwrapped, BatchCancelledWebhookEvent)
    assert unwrapped.data.id == batch.id
    assert unwrapped.created_at == (await client.batches.retrieve(batch.id)).cancelled_at


async def test_a_batch_whose_file_breaks_the_rules_announces_batch_failed(
    start_sandbox: StartSandbox, start_receiver: StartReceiver, connect: Connect
) -> None:
    receiver, url = start_receiver()
    running = start_sandbox(webhook_config(url))
    client = connect(running)
    batch = await submit(client, [line("a", "One."), line("b", "Two.", model="gpt-4.1")])

    await advance(running, 60)
    [delivery] = await receiver.deliveries(1)

    unwrapped = unwrap(delivery)
    assert isinstance(unwrapped, BatchFailedWebhookEvent)
    assert unwrapped.data.id == batch.id
    assert (await client.batches.retrieve(batch.id)).status == "failed"


async def test_the_stats_count_each_batch_creation_once_per_vendor_with_its_items(
    start_sandbox: StartSandbox, connect: Connect
) -> None:
    running = start_sandbox(SandboxConfig(batches=BatchSettings(processing_seconds=600)))
    client = connect(running)
    batch = await submit(client, [line("a", "One."), line("b", "Two."), line("c", "Three.")])
    uploaded = await client.files.create(file=("in.jsonl", b"{}\n"), purpose="batch")
    with pytest.raises(openai.BadRequestError):
        await client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="48h",  # type: ignore[arg-type]
        )
    anthropic = running.client()
    params = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": pack("One.")}],
    }
    await anthropic.messages.batches.create(
        requests=[{"custom_id": "p1", "params": params}, {"custom_id": "p2", "params": params}]  # type: ignore[typeddict-item]
    )
    with pytest.raises(anthropic_sdk.BadRequestError, match="duplicate"):
        await anthropic.messages.batches.create(
            requests=[{"custom_id": "p1", "params": params}, {"custom_id": "p1", "params": params}]  # type: ignore[typeddict-item]
        )
    await advance(running, 700)
    await client.batches.retrieve(batch.id)
    await client.batches.list()

    counted = await stats(running)
    assert counted["batches"] == {
        "anthropic": {"created": 1, "items": 2},
        "openai": {"created": 1, "items": 3},
    }
    assert counted["requests"]["POST /v1/batches"] == 2  # the rejected one is a request too
    assert counted["webhooks"] == {"attempts": 0, "sent": 0, "retried": 0, "failed": 0}


# An anyio memory stream left unclosed only warns when collected: these make that fail the test.
@pytest.mark.filterwarnings("error:Unclosed <MemoryObject:ResourceWarning")
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_sandbox_with_webhooks_served_and_stopped_leaves_no_delivery_queue_open() -> None:
    sandbox = Sandbox(webhook_config("http://127.0.0.1:9/hook"))
    for _ in range(2):  # each serving starts its own queue and closes it
        with serve_in_thread(create_app(sandbox)):
            pass
    del sandbox
    gc.collect()  # the sandbox and its app refer to each other: only a collection frees them
