"""The OpenAI webhook receiver, over real HTTP, with deliveries signed by hand.

The signer below follows the Standard Webhooks spec on its own rather than calling the SDK,
so a verifier that accepted everything, or checked the wrong bytes, would fail these tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx2
import pytest

from blockpass.errors import UserInputError
from blockpass.providers.openai_webhooks import DeliveryLog, MemoryDeliveryLog, create_webhook_app
from blockpass.sandbox import serve_in_thread

pytestmark = pytest.mark.anyio

KEY = b"thirty-two bytes of signing key!"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
PATH = "/webhooks/openai"


def sign(body: bytes, *, webhook_id: str, timestamp: str, key: bytes = KEY) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def event_body(event_type: str = "batch.completed", batch_id: str = "batch_1") -> bytes:
    event = {
        "id": "evt_1",
        "object": "event",
        "type": event_type,
        "created_at": 1_750_000_000,
        "data": {"id": batch_id},
    }
    return json.dumps(event).encode()


def signed_headers(
    body: bytes, *, webhook_id: str = "msg_1", age: int = 0, key: bytes = KEY
) -> dict[str, str]:
    timestamp = str(int(time.time()) - age)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": sign(body, webhook_id=webhook_id, timestamp=timestamp, key=key),
        "content-type": "application/json",
    }


@dataclass
class Handler:
    """Stands in for the run store: knows some batches, and can fail its first calls."""

    known: set[str] = field(default_factory=lambda: {"batch_1"})
    failures: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, batch_id: str, event_type: str) -> bool:
        self.calls.append((batch_id, event_type))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the run store is unavailable")
        return batch_id in self.known


Receiver = Callable[..., AbstractAsyncContextManager[httpx2.AsyncClient]]


@pytest.fixture
def receiver() -> Receiver:
    """Serves a webhook app on 127.0.0.1 and yields an HTTP client pointed at it."""

    @asynccontextmanager
    async def serve(
        handler: Handler, deliveries: DeliveryLog | None = None, **options: Any
    ) -> AsyncIterator[httpx2.AsyncClient]:
        app = create_webhook_app(
            secret=SECRET, on_batch_event=handler, deliveries=deliveries, **options
        )
        with serve_in_thread(app) as server:
            async with httpx2.AsyncClient(base_url=server.base_url, timeout=10) as client:
                yield client

    return serve


async def post(client: httpx2.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx2.Response:
    return await client.post(PATH, content=body, headers=headers)


async def test_a_signed_batch_completed_event_calls_the_handler_once_and_is_accepted(
    receiver: Receiver,
) -> None:
    handler = Handler()
    async with receiver(handler) as client:
        body = event_body("batch.completed", "batch_1")
        response = await post(client, body, signed_headers(body))
    assert response.status_code == 200
    assert response.json() == {
        "status": "accepted",
        "type": "batch.completed",
        "batch_id": "batch_1",
    }
    assert handler.calls == [("batch_1", "batch.completed")]


async def test_an_event_for_an_unknown_batch_is_acknowledged_and_ignored(
    receiver: Receiver,
) -> None:
    handler = Handler()
    async with receiver(handler) as client:
        body = event_body("batch.expired", "batch_elsewhere")
        response = await post(client, body, signed_headers(body))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert handler.calls == [("batch_elsewhere", "batch.expired")]


def wrong_signature(body: bytes) -> dict[str, str]:
    return signed_headers(body, key=b"another endpoint's signing key!!")


def ten_minutes_old(body: bytes) -> dict[str, str]:
    return signed_headers(body, age=600)


def ten_minutes_ahead(body: bytes) -> dict[str, str]:
    return signed_headers(body, age=-600)


def body_changed_after_signing(body: bytes) -> dict[str, str]:
    return signed_headers(event_body("batch.completed", "batch_other"))


def no_signature_header(body: bytes) -> dict[str, str]:
    headers = signed_headers(body)
    del headers["webhook-signature"]
    return headers


def id_changed_after_signing(body: bytes) -> dict[str, str]:
    return {**signed_headers(body), "webhook-id": "msg_other"}


@pytest.mark.parametrize(
    "spoil",
    [
        wrong_signature,
        ten_minutes_old,
        ten_minutes_ahead,
        body_changed_after_signing,
        no_signature_header,
        id_changed_after_signing,
    ],
    ids=lambda spoil: spoil.__name__,
)
async def test_a_delivery_that_does_not_verify_gets_400_and_does_not_call_the_handler(
    receiver: Receiver, spoil: Callable[[bytes], dict[str, str]]
) -> None:
    handler = Handler()
    async with receiver(handler) as client:
        body = event_body()
        response = await post(client, body, spoil(body))
    assert response.status_code == 400
    assert response.json()["error"]
    assert "\n" not in response.json()["error"]
    assert handler.calls == []


async def test_a_replayed_webhook_id_gets_409_and_does_not_call_the_handler_again(
    receiver: Receiver,
) -> None:
    handler = Handler()
    async with receiver(handler) as client:
        body = event_body()
        headers = signed_headers(body, webhook_id="msg_replayed")
        first = await post(client, body, headers)
        same_request = await post(client, body, headers)
        resigned_later = await post(
            client, body, signed_headers(body, webhook_id="msg_replayed", age=-30)
        )
    assert first.status_code == 200
    assert same_request.status_code == 409
    assert resigned_later.status_code == 409
    assert handler.calls == [("batch_1", "batch.completed")]


async def test_a_signature_list_with_one_wrong_and_one_right_value_is_accepted(
    receiver: Receiver,
) -> None:
    handler = Handler()
    async with receiver(handler) as client:
        body = event_body()
        headers = signed_headers(body)
        wrong = sign(body, webhook_id="msg_1", timestamp=headers["webhook-timestamp"], key=b"x")
        headers["webhook-signature"] = f"{wrong} {headers['webhook-signature']}"
        response = await post(client, body, headers)
    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    assert handler.calls == [("batch_1", "batch.completed")]


async def test_a_non_batch_event_is_acknowledged_without_calling_the_handler(
    receiver: Receiver,
) -> None:
    handler = Handler()
    async with receiver(handler) as client:
        body = event_body("response.completed", "resp_1")
        response = await post(client, body, signed_headers(body))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert handler.calls == []


async def test_a_handler_that_raises_gives_500_and_the_retried_delivery_is_processed(
    receiver: Receiver,
) -> None:
    handler = Handler(failures=1)
    async with receiver(handler) as client:
        body = event_body()
        failed = await post(client, body, signed_headers(body, webhook_id="msg_retried"))
        # The sender's retry carries the same id under a new timestamp and signature.
        retried = await post(client, body, signed_headers(body, webhook_id="msg_retried", age=-5))
    assert failed.status_code == 500
    assert retried.status_code == 200
    assert retried.json()["status"] == "accepted"
    assert handler.calls == [("batch_1", "batch.completed")] * 2


async def test_a_forged_request_with_a_fresh_id_does_not_block_the_real_delivery(
    receiver: Receiver,
) -> None:
    handler = Handler()
    deliveries = MemoryDeliveryLog()
    async with receiver(handler, deliveries) as client:
        body = event_body()
        forged = signed_headers(body, webhook_id="msg_next", key=b"guessed key")
        refused = await post(client, body, forged)
        real = await post(client, body, signed_headers(body, webhook_id="msg_next"))
    assert refused.status_code == 400
    assert real.status_code == 200
    assert list(deliveries.received_at) == ["msg_next"]
    assert handler.calls == [("batch_1", "batch.completed")]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"batch done", "not JSON"),
        (b'["batch.completed"]', "not an event"),
        (b'{"object": "batch", "type": "batch.completed"}', "not an event"),
        (b'{"object": "event", "type": "batch.completed", "data": {}}', "no data.id"),
        (b'{"object": "event", "data": {"id": "batch_1"}}', "no type"),
    ],
)
async def test_a_signed_body_that_is_not_an_event_gets_400_and_does_not_burn_its_id(
    receiver: Receiver, body: bytes, reason: str
) -> None:
    handler = Handler()
    deliveries = MemoryDeliveryLog()
    async with receiver(handler, deliveries) as client:
        response = await post(client, body, signed_headers(body))
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert deliveries.received_at == {}
    assert handler.calls == []


async def test_a_delivery_log_shared_across_restarts_keeps_refusing_a_replay(
    receiver: Receiver,
) -> None:
    handler = Handler()
    deliveries = MemoryDeliveryLog()
    body = event_body()
    headers = signed_headers(body, webhook_id="msg_before_restart")
    async with receiver(handler, deliveries) as client:
        assert (await post(client, body, headers)).status_code == 200
    async with receiver(handler, deliveries) as client:
        assert (await post(client, body, headers)).status_code == 409
    assert len(handler.calls) == 1


async def test_the_receiver_answers_post_on_its_path_only_and_get_on_healthz(
    receiver: Receiver,
) -> None:
    handler = Handler()
    async with receiver(handler, path="/hooks/batches") as client:
        body = event_body()
        on_path = await client.post("/hooks/batches", content=body, headers=signed_headers(body))
        default_path = await client.post(PATH, content=body, headers=signed_headers(body))
        wrong_method = await client.get("/hooks/batches")
        health = await client.get("/healthz")
    assert on_path.status_code == 200
    assert default_path.status_code == 404
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
    assert wrong_method.json() == {"error": "Method Not Allowed"}
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}


async def test_an_oversized_body_is_refused_before_it_is_read_in_full(receiver: Receiver) -> None:
    handler = Handler()
    async with receiver(handler) as client:
        body = b"{" + b" " * (2 << 20) + b"}"
        response = await post(client, body, signed_headers(body))
    assert response.status_code == 413
    assert handler.calls == []


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!"])
def test_a_secret_that_cannot_sign_anything_is_refused_when_the_app_is_built(
    secret: str,
) -> None:
    with pytest.raises(UserInputError):
        create_webhook_app(secret=secret, on_batch_event=Handler())


async def test_a_delivery_cancelled_while_it_is_handled_leaves_its_id_free_for_the_retry() -> None:
    started = anyio.Event()

    async def never_finishes(batch_id: str, event_type: str) -> bool:
        started.set()
        await anyio.Event().wait()
        return True

    deliveries = MemoryDeliveryLog()
    app = create_webhook_app(secret=SECRET, on_batch_event=never_finishes, deliveries=deliveries)
    transport = httpx2.ASGITransport(app=app)
    body = event_body()
    async with httpx2.AsyncClient(transport=transport, base_url="http://receiver") as client:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(post, client, body, signed_headers(body))
                await started.wait()
                assert list(deliveries.received_at) == ["msg_1"]
                tasks.cancel_scope.cancel()
    assert deliveries.received_at == {}
