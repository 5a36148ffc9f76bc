"""Webhook delivery, signed as OpenAI signs it (Standard Webhooks; ``PROVIDERS.md``).

An event is ``{"id": "evt_…", "object": "event", "type", "created_at", "data": {"id"}}``,
POSTed as JSON with three headers: ``webhook-id`` (``wh_…``, one per event and the same on
every retry, so receivers can drop duplicates), ``webhook-timestamp`` (Unix seconds of the
attempt) and ``webhook-signature`` (``v1,`` + base64 HMAC-SHA256 of
``f"{webhook_id}.{timestamp}.{raw_body}"``, keyed by the base64-decoded part of the
``whsec_`` secret). The official SDK's ``client.webhooks.unwrap`` accepts these.

The two times come from different clocks on purpose. ``created_at`` is when the batch reached
its final status on the sandbox clock, so it equals the batch's ``completed_at`` (or
``expired_at``, …) under a manual clock too. ``webhook-timestamp`` is the wall-clock time of
the attempt: every verifier compares it with its own wall clock (300 s either way in the
SDK), and a manual clock that starts at a fixed date and is moved by hours to finish batches
would have every delivery rejected. Under the system clock the two agree.

Delivery runs on the sandbox's event loop (``run``, started by the app's lifespan) and never
holds up a request: ``announce`` only queues. The queue lives as long as ``run`` does, which
closes it on the way out, so an app served again starts a fresh one. A non-2xx answer or a
connection failure is retried after each of ``retry_delays`` (real seconds: OpenAI keeps
trying for 72 hours, a sandbox gives up within seconds), then the event is dropped and
counted as failed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import uuid
from collections import Counter
from dataclasses import dataclass

import anyio
import httpx2
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from blockpass.sandbox.clock import Clock, SystemClock

# Fixed so that a client configured once keeps verifying across sandbox restarts; it guards
# nothing, as the sandbox only ever talks to 127.0.0.1.
DEFAULT_WEBHOOK_SECRET = "whsec_YmxvY2twYXNzIHNhbmRib3ggd2ViaG9vayBzZWNyZXQ="
DEFAULT_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
ATTEMPT_TIMEOUT_SECONDS = 5.0
COUNTERS = ("attempts", "sent", "retried", "failed")

logger = logging.getLogger(__name__)


def signing_key(secret: str) -> bytes:
    """The HMAC key, read the way the SDK reads it: base64 after ``whsec_``, else the text."""
    if not secret.startswith("whsec_"):
        return secret.encode()
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise ValueError("a whsec_ secret must be base64 after the prefix") from None
    if not key:
        raise ValueError("a whsec_ secret must not be empty")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True, slots=True)
class Event:
    webhook_id: str
    body: bytes


class WebhookSender:
    def __init__(
        self,
        url: str,
        secret: str,
        counters: Counter[str],
        *,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        stamp_clock: Clock | None = None,
    ) -> None:
        self.url = url
        self._key = signing_key(secret)
        self._counters = counters
        self._retry_delays = retry_delays
        self._stamp_clock: Clock = stamp_clock or SystemClock()
        self._outbox: MemoryObjectSendStream[Event] | None = None

    def announce(self, event_type: str, object_id: str, *, at: float) -> None:
        """Queues one event; call it on the event loop that runs ``run``, once ``run`` started."""
        if self._outbox is None:
            raise RuntimeError("webhook delivery is not running: serve the app with its lifespan")
        payload = {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": event_type,
            "created_at": int(at),
            "data": {"id": object_id},
        }
        event = Event(webhook_id=f"wh_{uuid.uuid4().hex}", body=json.dumps(payload).encode())
        self._outbox.send_nowait(event)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Delivers what ``announce`` queues until cancelled; ready once ``task_status`` is."""
        outbox, inbox = anyio.create_memory_object_stream[Event](math.inf)
        async with (
            outbox,
            inbox,
            httpx2.AsyncClient(timeout=ATTEMPT_TIMEOUT_SECONDS) as client,
            anyio.create_task_group() as deliveries,
        ):
            self._outbox = outbox
            task_status.started()
            try:
                async for event in inbox:
                    # One task per event, so a receiver that keeps failing one event does
                    # not hold back the next.
                    deliveries.start_soon(self._deliver, client, event)
            finally:
                self._outbox = None

    async def _deliver(self, client: httpx2.AsyncClient, event: Event) -> None:
        for delay in (*self._retry_delays, None):
            self._counters["attempts"] += 1
            timestamp = int(self._stamp_clock.now())
            headers = {
                "content-type": "application/json",
                "webhook-id": event.webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(self._key, event.webhook_id, timestamp, event.body),
            }
            try:
                response = await client.post(self.url, content=event.body, headers=headers)
                outcome = f"HTTP {response.status_code}"
                accepted = response.is_success
            except httpx2.HTTPError as error:
                outcome, accepted = f"{type(error).__name__}: {error}", False
            if accepted:
                self._counters["sent"] += 1
                return
            if delay is None:
                self._counters["failed"] += 1
                logger.warning(
                    "webhook %s to %s dropped after %s", event.webhook_id, self.url, outcome
                )
                return
            self._counters["retried"] += 1
            await anyio.sleep(delay)
