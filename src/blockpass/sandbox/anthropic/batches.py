"""Message Batches: create, retrieve, list, cancel, delete and results.

Processing runs against the sandbox clock rather than in a background task: a batch's items
are done in waves of ``parallelism`` items spread evenly over ``processing_seconds``, and a
batch is brought up to date whenever it is looked at. Under a manual clock a test finishes a
24-hour batch by moving the clock; under the wall clock it progresses in real time.

Items of one wave run in parallel, so they cannot read each other's cache writes; later waves
can. Batches have a cache of their own: an entry written by a normal call is not read by a
batch, while batch-written entries serve later batches (``PROVIDERS.md``). Caching inside a
batch is best effort, modelled as a hit rate below one.

Request counts stay at ``processing`` until the whole batch has ended, as the API documents.
``on_created`` is called once per accepted batch (the sandbox counts batches and items with it).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from blockpass.sandbox.anthropic.engine import complete, input_plan
from blockpass.sandbox.anthropic.request import parse_messages_request
from blockpass.sandbox.cache import Commit, PromptCache
from blockpass.sandbox.clock import Clock, rfc3339
from blockpass.sandbox.errors import ApiError, invalid_request
from blockpass.sandbox.faults import FaultPlan
from blockpass.sandbox.responder import Responder

MAX_REQUESTS = 100_000
MAX_BYTES = 256 * 1024 * 1024
RESULTS_RETENTION_SECONDS = 29 * 86_400
_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    processing_seconds: float = 60.0
    expiry_seconds: float = 86_400.0
    parallelism: int = 32
    cache_hit_rate: float = 0.9
    seed: int = 0


@dataclass(slots=True, kw_only=True)
class _Item:
    custom_id: str
    params: object
    result: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class Batch:
    id: str
    created_at: float
    expires_at: float
    items: list[_Item]
    wave_size: int
    processing_seconds: float
    api_version: str
    waves_done: int = 0
    cancel_initiated_at: float | None = None
    ended_at: float | None = None

    @property
    def wave_count(self) -> int:
        return -(-len(self.items) // self.wave_size)

    def wave_due(self, wave: int) -> float:
        return self.created_at + self.processing_seconds * (wave + 1) / self.wave_count


@dataclass(slots=True)
class BatchStore:
    clock: Clock
    responder: Responder
    faults: FaultPlan
    settings: BatchSettings
    cache: PromptCache
    on_created: Callable[[Batch], None] = lambda batch: None
    _batches: dict[str, Batch] = field(default_factory=dict)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.settings.seed)

    def create(self, body: object, *, api_version: str) -> Batch:
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not requests:
            raise invalid_request("requests: at least one request is required")
        if len(requests) > MAX_REQUESTS:
            raise ApiError(
                413, "request_too_large", f"A batch may hold at most {MAX_REQUESTS} requests."
            )
        seen: set[str] = set()
        items = []
        for index, entry in enumerate(requests):
            custom_id = entry.get("custom_id") if isinstance(entry, dict) else None
            if not isinstance(custom_id, str) or not _CUSTOM_ID.match(custom_id):
                raise invalid_request(
                    f"requests.{index}.custom_id: String should match pattern "
                    f"'{_CUSTOM_ID.pattern}'"
                )
            if custom_id in seen:
                raise invalid_request(f"requests.{index}.custom_id: duplicate id {custom_id!r}")
            seen.add(custom_id)
            items.append(_Item(custom_id=custom_id, params=entry.get("params")))
        now = self.clock.now()
        batch = Batch(
            id=f"msgbatch_{uuid.uuid4().hex[:24]}",
            created_at=now,
            expires_at=now + self.settings.expiry_seconds,
            items=items,
            wave_size=max(1, self.settings.parallelism),
            processing_seconds=self.settings.processing_seconds,
            api_version=api_version,
        )
        self._batches[batch.id] = batch
        self.on_created(batch)
        return batch

    def get(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise ApiError(404, "not_found_error", f"message_batch: {batch_id} not found")
        self._advance(batch)
        return batch

    def listing(self, *, limit: int, after_id: str | None, before_id: str | None) -> list[Batch]:
        newest_first = sorted(self._batches.values(), key=lambda b: b.created_at, reverse=True)
        ids = [batch.id for batch in newest_first]
        if after_id is not None:
            newest_first = newest_first[ids.index(after_id) + 1 :] if after_id in ids else []
        elif before_id is not None:
            end = ids.index(before_id) if before_id in ids else 0
            newest_first = newest_first[max(0, end - limit) : end]
        for batch in newest_first[: limit + 1]:
            self._advance(batch)
        return newest_first[: limit + 1]

    def cancel(self, batch_id: str) -> Batch:
        batch = self.get(batch_id)
        if batch.ended_at is None and batch.cancel_initiated_at is None:
            batch.cancel_initiated_at = self.clock.now()
        return batch

    def delete(self, batch_id: str) -> None:
        batch = self.get(batch_id)
        if batch.ended_at is None:
            raise invalid_request(
                f"Batch {batch_id} cannot be deleted while it is still processing; cancel it first."
            )
        del self._batches[batch_id]

    def results(self, batch_id: str) -> bytes:
        batch = self.get(batch_id)
        if batch.ended_at is None:
            raise invalid_request(f"Batch {batch_id} has not finished processing.")
        if self.clock.now() > batch.created_at + RESULTS_RETENTION_SECONDS:
            raise ApiError(
                404, "not_found_error", f"Results of {batch_id} are no longer available."
            )
        # Any order, as the API says: callers must match on custom_id.
        shuffled = sorted(
            batch.items, key=lambda item: hashlib.sha1(item.custom_id.encode()).digest()
        )
        return b"".join(
            json.dumps({"custom_id": item.custom_id, "result": item.result}).encode() + b"\n"
            for item in shuffled
        )

    def _advance(self, batch: Batch) -> None:
        if batch.ended_at is not None:
            return
        now = self.clock.now()
        horizon = min(now, batch.expires_at)
        if batch.cancel_initiated_at is not None:
            horizon = min(horizon, batch.cancel_initiated_at)
        while batch.waves_done < batch.wave_count and batch.wave_due(batch.waves_done) <= horizon:
            self._process_wave(batch, batch.waves_done)
            batch.waves_done += 1
        unfinished = [item for item in batch.items if item.result is None]
        if batch.cancel_initiated_at is not None and now >= batch.cancel_initiated_at:
            self._end(batch, unfinished, "canceled", at=batch.cancel_initiated_at)
        elif now >= batch.expires_at:
            self._end(batch, unfinished, "expired", at=batch.expires_at)
        elif not unfinished:
            batch.ended_at = batch.wave_due(batch.wave_count - 1)

    @staticmethod
    def _end(batch: Batch, unfinished: list[_Item], outcome: str, *, at: float) -> None:
        for item in unfinished:
            item.result = {"type": outcome}
        batch.ended_at = at

    def _process_wave(self, batch: Batch, wave: int) -> None:
        started_at = batch.wave_due(wave)
        arrival_seq = self.cache.arrive()
        commits: list[Commit] = []
        for item in batch.items[wave * batch.wave_size : (wave + 1) * batch.wave_size]:
            fault = self.faults.batch_item_fault()
            if fault == "batch_expired":
                continue  # never finishes: it expires with the batch
            if fault == "batch_errored":
                item.result = _errored("overloaded_error", "Overloaded")
                continue
            if fault == "batch_invalid":
                item.result = _errored(
                    "invalid_request_error",
                    "The request was rejected as invalid (sandbox fault batch_invalid).",
                )
                continue
            try:
                request = parse_messages_request(
                    item.params, api_version=batch.api_version, in_batch=True
                )
                if request.stream:
                    raise invalid_request("stream: streaming is not supported inside a batch")
                plan, total = input_plan(
                    request,
                    self.cache,
                    arrival_seq=arrival_seq,
                    started_at=started_at,
                    allow_read=self._rng.random() < self.settings.cache_hit_rate,
                )
                blocks = self.responder.blocks_in(request.last_user_text)
                completion = complete(
                    request,
                    plan=plan,
                    total_input=total,
                    cache=self.cache,
                    started_at=started_at,
                    responder=self.responder,
                    blocks=blocks,
                    faults=self.faults.shape(self.faults.draw_output_only(), len(blocks)),
                    limiter=None,
                    service_tier="batch",
                )
            except ApiError as error:
                item.result = _errored(error.error_type, error.message)
                continue
            commits.append(completion.commit)
            item.result = {"type": "succeeded", "message": completion.message}
        for commit in commits:
            self.cache.publish(commit)


def _errored(error_type: str, message: str) -> dict[str, Any]:
    return {
        "type": "errored",
        "error": {"type": "error", "error": {"type": error_type, "message": message}},
    }


def batch_json(batch: Batch, *, base_url: str) -> dict[str, Any]:
    ended = batch.ended_at is not None
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if ended:
        for item in batch.items:
            assert item.result is not None
            counts[item.result["type"]] += 1
    else:
        counts["processing"] = len(batch.items)
    status = "ended" if ended else "canceling" if batch.cancel_initiated_at else "in_progress"
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "created_at": rfc3339(batch.created_at),
        "expires_at": rfc3339(batch.expires_at),
        "ended_at": rfc3339(batch.ended_at) if batch.ended_at is not None else None,
        "cancel_initiated_at": (
            rfc3339(batch.cancel_initiated_at) if batch.cancel_initiated_at is not None else None
        ),
        "archived_at": None,
        "results_url": f"{base_url}v1/messages/batches/{batch.id}/results" if ended else None,
    }
