"""The OpenAI batch webhook receiver: an ASGI app that turns signed `batch.*` events into calls.

OpenAI announces the end of a batch by POSTing a Standard Webhooks event
(`{"id", "object": "event", "type": "batch.completed", "created_at", "data": {"id": batch}}`)
with the headers `webhook-id`, `webhook-timestamp` and `webhook-signature`. The first check
that fails gives the reply:

| check, in order                                              | by          | reply        |
|--------------------------------------------------------------|-------------|--------------|
| POST to the configured path (GET /healthz aside)             | Starlette   | 404, 405     |
| body at most 1 MiB                                           | Starlette   | 413          |
| body is UTF-8; `webhook-id`, `-timestamp`, `-signature` set  | here        | 400          |
| `webhook-timestamp` within 300 s of now, either way          | OpenAI SDK  | 400          |
| a `v1,` signature is HMAC-SHA256(secret, id.timestamp.body)  | OpenAI SDK  | 400          |
| body is an event (`object`, `type`; `data.id` for `batch.*`) | here        | 400          |
| `webhook-id` was never accepted before (replay)              | DeliveryLog | 409          |
| `batch.*`: `on_batch_event(batch_id, type)` returns True     | caller      | 200 accepted |
| `batch.*`: it returns False (a batch we do not know)         | caller      | 200 ignored  |
| `batch.*`: it raises                                         | caller      | 500          |
| any other event type (`response.completed`, ...)             | here        | 200 ignored  |

Replies are one line of JSON, `{"status": ...}` on success and `{"error": reason}` otherwise
(but for the 413, Starlette's plain text). `GET /healthz` answers 200.

The SDK's check only bounds how old a delivery may be; within those five minutes a captured
request would verify again, so the ids of accepted deliveries go to an injected `DeliveryLog`
(persist it in the run store to keep the protection across restarts). An id is recorded only
after its signature verified, so a forged request cannot burn a real delivery's id, and it is
dropped again if the handler fails, so the sender's retry is processed. Note that a retry of
a delivery that *was* accepted (our 200 lost on the way) also gets 409, which OpenAI counts
as a failed delivery and keeps retrying; the batch was handled either way.

The receiver for one run directory is ``webhook_receiver.py``'s. Needs the `sandbox` extra
(Starlette; uvicorn to serve it).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
import openai
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from blockpass.errors import UserInputError

DEFAULT_PATH = "/webhooks/openai"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1 << 20
SIGNED_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")

BatchEventHandler = Callable[[str, str], Awaitable[bool]]
"""`(batch_id, event_type) -> whether the batch is known`; raising makes the sender retry."""

_log = logging.getLogger(__name__)


class DeliveryLog(Protocol):
    """The `webhook-id`s of accepted deliveries: the memory behind replay protection."""

    async def first_delivery(self, webhook_id: str, received_at: float) -> bool:
        """Record the id and return True, or return False if it is already recorded.

        Must be atomic: of concurrent calls with one id, exactly one returns True, so a
        delivery that arrives twice at once is handled once.
        """
        ...

    async def forget_delivery(self, webhook_id: str) -> None:
        """Drop an id whose handling failed, so that the sender's retry is processed."""
        ...


class MemoryDeliveryLog:
    """A `DeliveryLog` in a dict: for tests, and for receivers that may forget on restart."""

    def __init__(self) -> None:
        self.received_at: dict[str, float] = {}

    async def first_delivery(self, webhook_id: str, received_at: float) -> bool:
        # No await between the test and the insert, so this is atomic on one event loop.
        if webhook_id in self.received_at:
            return False
        self.received_at[webhook_id] = received_at
        return True

    async def forget_delivery(self, webhook_id: str) -> None:
        self.received_at.pop(webhook_id, None)


def create_webhook_app(
    *,
    secret: str,
    on_batch_event: BatchEventHandler,
    deliveries: DeliveryLog | None = None,
    path: str = DEFAULT_PATH,
) -> Starlette:
    """The receiver as an ASGI app; `secret` is the endpoint's signing secret (`whsec_...`)."""
    _check_secret(secret)
    if not path.startswith("/") or path == HEALTH_PATH:
        raise UserInputError(f"the webhook path must start with '/' and not be {HEALTH_PATH}")
    receiver = _Receiver(
        # The SDK's verifier hangs off a client, but verifying sends no request, so the API key
        # is a placeholder (passing it also keeps the SDK from reading OPENAI_API_KEY).
        client=openai.OpenAI(api_key="unused-for-webhook-verification"),
        secret=secret,
        on_batch_event=on_batch_event,
        deliveries=deliveries if deliveries is not None else MemoryDeliveryLog(),
    )
    return Starlette(
        routes=[
            Route(path, receiver.receive, methods=["POST"], max_body_size=MAX_BODY_BYTES),
            Route(HEALTH_PATH, _health, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error},
    )


class _Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class _Event:
    type: str
    batch_id: str | None  # None: not a batch event


@dataclass(frozen=True, slots=True, kw_only=True)
class _Receiver:
    client: openai.OpenAI
    secret: str
    on_batch_event: BatchEventHandler
    deliveries: DeliveryLog

    async def receive(self, request: Request) -> Response:
        try:
            body = await request.body()
            webhook_id = self._verify(body, request)
            event = _parse_event(body)
            if not await self.deliveries.first_delivery(webhook_id, time.time()):
                raise _Rejected(409, f"delivery {webhook_id} was already accepted")
        except _Rejected as rejected:
            _log.info("webhook delivery rejected (%d): %s", rejected.status, rejected.reason)
            return _reply(rejected.status, error=rejected.reason)
        if event.batch_id is None:
            return _reply(200, status="ignored", reason=f"{event.type} is not a batch event")
        return await self._handle(webhook_id, event.batch_id, event.type)

    def _verify(self, body: bytes, request: Request) -> str:
        """The delivery's id, once the SDK has checked its timestamp and signature."""
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Rejected(400, "the body is not UTF-8") from None
        # The id the SDK verifies and the id the replay check records must be the same value,
        # so both read this one dict rather than the request's (possibly repeated) headers.
        signed: dict[str, str] = {}
        for name in SIGNED_HEADERS:
            value = request.headers.get(name)
            if not value:
                raise _Rejected(400, f"the {name} header is missing")
            signed[name] = value
        try:
            self.client.webhooks.verify_signature(body, signed, secret=self.secret)
        except openai.InvalidWebhookSignatureError as error:
            raise _Rejected(400, str(error)) from None
        return signed["webhook-id"]

    async def _handle(self, webhook_id: str, batch_id: str, event_type: str) -> Response:
        try:
            known = await self.on_batch_event(batch_id, event_type)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await self.deliveries.forget_delivery(webhook_id)
            raise
        except Exception:
            _log.exception("the webhook handler failed on %s for batch %s", event_type, batch_id)
            await self.deliveries.forget_delivery(webhook_id)
            return _reply(500, error=f"{event_type} for {batch_id} could not be handled")
        if not known:
            return _reply(200, status="ignored", reason=f"unknown batch {batch_id}")
        return _reply(200, status="accepted", type=event_type, batch_id=batch_id)


def _check_secret(secret: str) -> None:
    # The SDK would only fail on a bad secret at the first delivery, with an error that
    # reads like a bad request; refuse it where the user can still fix it.
    if not secret:
        raise UserInputError("the webhook secret is empty")
    if secret.startswith("whsec_"):
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            raise UserInputError("the webhook secret after 'whsec_' is not base64") from None
        if not key:
            raise UserInputError("the webhook secret is empty after 'whsec_'")


def _parse_event(body: bytes) -> _Event:
    try:
        event: object = json.loads(body)
    except json.JSONDecodeError:
        raise _Rejected(400, "the body is not JSON") from None
    if not isinstance(event, dict) or event.get("object") != "event":
        raise _Rejected(400, 'the body is not an event (no "object": "event")')
    event_type = event.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise _Rejected(400, "the event has no type")
    if not event_type.startswith("batch."):
        return _Event(type=event_type, batch_id=None)
    data = event.get("data")
    batch_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(batch_id, str) or not batch_id:
        raise _Rejected(400, f"the {event_type} event has no data.id")
    return _Event(type=event_type, batch_id=batch_id)


def _reply(status_code: int, **content: Any) -> JSONResponse:
    return JSONResponse(content, status_code=status_code)


async def _health(request: Request) -> Response:
    return _reply(200, status="ok")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = _reply(exc.status_code, error=exc.detail)
    response.headers.update(exc.headers or {})
    return response
