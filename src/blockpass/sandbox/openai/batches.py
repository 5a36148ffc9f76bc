"""The Batch API: create from an uploaded JSONL file, retrieve, list, cancel; result files.

Processing runs on the sandbox clock, brought up to date whenever a batch is looked at, as
on the Anthropic side (``anthropic/batches.py``): ``validating`` for a short phase, then
``in_progress`` with the items done in waves of ``parallelism`` spread over
``processing_seconds``, then ``finalizing`` for a short phase, then ``completed`` with an
output file (successes) and an error file (failures). Each phase is ``PHASE_SHARE`` of the
processing time. ``cancelling`` stops new waves and ends ``cancelled`` one phase later; a
batch not done 24 hours after creation ends ``expired``. Either way the finished items are
kept and the unfinished ones go to the error file (``batch_expired``, documented;
``batch_cancelled``, assumed by analogy). A batch where every request failed completes with
``output_file_id = null`` (``PROVIDERS.md``).

A file that breaks the rules (``batchfile.py``) fails the whole batch at validation; a
request that is well-formed but invalid for the endpoint fails alone, with the status and
error body the endpoint would have answered.

Items of one wave run in parallel, so they cannot read each other's cache writes, and caching
is best effort (``BatchSettings.cache_hit_rate``); batch items share the realtime prompt cache.

``on_created`` is called once per accepted batch (the sandbox counts batches and items with
it). ``on_finished`` is called once when a batch reaches a final status, with the event type
its webhook carries (``batch.completed``, ``batch.failed``, ``batch.expired``,
``batch.cancelled``); the sandbox sends that webhook (``webhooks.py``). Batches advance only
when looked at, so the app also calls ``advance_all`` whenever the manual clock is moved
and, with webhooks on, on a timer (``app.py``).
"""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from blockpass.sandbox.anthropic.batches import BatchSettings
from blockpass.sandbox.cache import Commit
from blockpass.sandbox.clock import Clock
from blockpass.sandbox.errors import ApiError
from blockpass.sandbox.faults import FaultPlan
from blockpass.sandbox.openai.batchfile import (
    ENDPOINTS,
    Item,
    http_result,
    item_request,
    read_input,
    result_lines,
)
from blockpass.sandbox.openai.cache import OpenAIPromptCache
from blockpass.sandbox.openai.engine import complete, input_plan
from blockpass.sandbox.openai.errors import OpenAIApiError, error_body, invalid
from blockpass.sandbox.openai.files import FileStore
from blockpass.sandbox.responder import Responder

PHASE_SHARE = 0.05
FINAL = frozenset({"failed", "completed", "expired", "cancelled"})
_UNFINISHED = {
    "expired": (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
    "cancelled": ("batch_cancelled", "This request was cancelled before it was executed."),
}


@dataclass(slots=True, kw_only=True)
class Batch:
    id: str
    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None
    created_at: float
    items: list[Item]
    model: str | None
    errors: list[dict[str, Any]]
    wave_size: int
    processing_seconds: float
    window_seconds: float
    status: str = "validating"
    waves_done: int = 0
    completed: int = 0
    failed: int = 0
    usage: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("input", "cached", "output"), 0)
    )
    times: dict[str, float] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None

    @property
    def phase(self) -> float:
        return self.processing_seconds * PHASE_SHARE

    @property
    def expires_at(self) -> float:
        return self.created_at + self.window_seconds

    def wave_due(self, wave: int) -> float:
        waves = -(-len(self.items) // self.wave_size)
        return self.times["in_progress"] + self.processing_seconds * (wave + 1) / waves


@dataclass(slots=True)
class OpenAIBatchStore:
    clock: Clock
    responder: Responder
    faults: FaultPlan
    settings: BatchSettings
    files: FileStore
    cache: OpenAIPromptCache
    on_created: Callable[[Batch], None] = lambda batch: None
    on_finished: Callable[[Batch, str], None] = lambda batch, event: None
    _batches: dict[str, Batch] = field(default_factory=dict)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.settings.seed)

    def create(self, body: object) -> Batch:
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.")
        file_id = body.get("input_file_id")
        if not isinstance(file_id, str):
            raise invalid(
                "Missing required parameter: 'input_file_id'.",
                "input_file_id",
                "missing_required_parameter",
            )
        stored = self.files.get(file_id)
        if stored.purpose != "batch":
            raise invalid(f"File {file_id} was not uploaded with purpose 'batch'.", "input_file_id")
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            raise invalid(
                f"Invalid value for 'endpoint': the sandbox supports {', '.join(ENDPOINTS)}.",
                "endpoint",
            )
        if body.get("completion_window") != "24h":
            raise invalid(
                "Invalid value for 'completion_window': only '24h' is supported.",
                "completion_window",
            )
        metadata = body.get("metadata")
        if metadata is not None and not (isinstance(metadata, dict) and len(metadata) <= 16):
            raise invalid("Invalid 'metadata': at most 16 string pairs.", "metadata")
        items, model, errors = read_input(stored.content, endpoint)
        batch = Batch(
            id=f"batch_{uuid.uuid4().hex[:24]}",
            input_file_id=file_id,
            endpoint=endpoint,
            metadata=metadata,
            created_at=self.clock.now(),
            items=items,
            model=model,
            errors=errors,
            wave_size=max(1, self.settings.parallelism),
            processing_seconds=self.settings.processing_seconds,
            # The 24-hour completion window, shortened by the sandbox's expiry setting.
            window_seconds=self.settings.expiry_seconds,
        )
        self._batches[batch.id] = batch
        self.on_created(batch)
        return batch

    def get(self, batch_id: str) -> Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise OpenAIApiError(
                404,
                "invalid_request_error",
                f"No batch found with id '{batch_id}'.",
                param="batch_id",
            )
        self._advance(batch)
        return batch

    def listing(self, *, limit: int, after: str | None) -> list[Batch]:
        newest_first = sorted(
            self._batches.values(), key=lambda batch: batch.created_at, reverse=True
        )
        ids = [batch.id for batch in newest_first]
        if after is not None:
            newest_first = newest_first[ids.index(after) + 1 :] if after in ids else []
        for batch in newest_first[: limit + 1]:
            self._advance(batch)
        return newest_first[: limit + 1]

    def cancel(self, batch_id: str) -> Batch:
        batch = self.get(batch_id)
        if batch.status in FINAL:
            raise invalid(f"Cannot cancel a batch with status '{batch.status}'.", "batch_id")
        if batch.status != "cancelling":
            batch.status = "cancelling"
            batch.times["cancelling"] = self.clock.now()
        return batch

    def advance_all(self) -> None:
        for batch in list(self._batches.values()):
            self._advance(batch)

    def _advance(self, batch: Batch) -> None:
        if batch.status in FINAL:
            return
        now = self.clock.now()
        stop = batch.times.get("cancelling", float("inf"))
        validated = batch.created_at + batch.phase
        if "in_progress" not in batch.times and now >= validated and stop >= validated:
            if batch.errors:
                self._finish(batch, "failed", at=validated)
                return
            batch.times["in_progress"] = validated
            batch.status = "in_progress" if batch.status == "validating" else batch.status
        if "in_progress" in batch.times:
            horizon = min(now, batch.expires_at, stop)
            while (
                batch.waves_done * batch.wave_size < len(batch.items)
                and batch.wave_due(batch.waves_done) <= horizon
            ):
                self._process_wave(batch, batch.waves_done)
                batch.waves_done += 1
            if (
                batch.waves_done * batch.wave_size >= len(batch.items)
                and "finalizing" not in batch.times
                # An item that never finished holds the batch until it expires.
                and batch.completed + batch.failed == len(batch.items)
            ):
                batch.times["finalizing"] = batch.wave_due(batch.waves_done - 1)
                batch.status = "finalizing" if batch.status == "in_progress" else batch.status
        if now >= stop + batch.phase:
            self._finish(batch, "cancelled", at=stop + batch.phase)
        elif batch.status == "finalizing" and now >= batch.times["finalizing"] + batch.phase:
            self._finish(batch, "completed", at=batch.times["finalizing"] + batch.phase)
        elif now >= batch.expires_at:
            self._finish(batch, "expired", at=batch.expires_at)

    def _process_wave(self, batch: Batch, wave: int) -> None:
        now = batch.wave_due(wave)
        arrival_seq = self.cache.arrive()
        commits: list[Commit] = []
        for item in batch.items[wave * batch.wave_size : (wave + 1) * batch.wave_size]:
            fault = self.faults.batch_item_fault()
            if fault == "batch_expired":
                continue  # never finishes: it expires with the batch
            if fault == "batch_errored":
                error = OpenAIApiError(
                    500, "server_error", "The server had an error processing your request."
                )
                item.response = http_result(500, error_body(error))
                batch.failed += 1
                continue
            if fault == "batch_invalid":
                error = invalid(
                    "The request was rejected as invalid (sandbox fault batch_invalid)."
                )
                item.response = http_result(400, error_body(error))
                batch.failed += 1
                continue
            try:
                request, render = item_request(batch.endpoint, item.body)
                allow_read = self._rng.random() < self.settings.cache_hit_rate
                plan = input_plan(
                    request, self.cache, arrival_seq=arrival_seq, now=now, allow_read=allow_read
                )
                blocks = self.responder.blocks_in(request.last_user_text)
                completion = complete(
                    request,
                    plan=plan,
                    cache=self.cache,
                    now=now,
                    responder=self.responder,
                    blocks=blocks,
                    faults=self.faults.shape(self.faults.draw_output_only(), len(blocks)),
                    limiter=None,
                )
            except ApiError as error:
                item.response = http_result(error.status, error_body(error))
                batch.failed += 1
                continue
            commits.append(completion.commit)
            item.response = http_result(200, render(completion))
            batch.completed += 1
            usage = completion.body["usage"]
            batch.usage["input"] += usage["prompt_tokens"]
            batch.usage["cached"] += usage["prompt_tokens_details"]["cached_tokens"]
            batch.usage["output"] += usage["completion_tokens"]
        for commit in commits:
            self.cache.publish(commit)

    def _finish(self, batch: Batch, status: str, *, at: float) -> None:
        if status in _UNFINISHED:
            code, message = _UNFINISHED[status]
            for item in batch.items:
                if item.response is None and item.error is None:
                    item.error = {"code": code, "message": message}
                    batch.failed += 1
        if status != "failed":
            ordered = sorted(
                batch.items, key=lambda item: hashlib.sha1(item.custom_id.encode()).digest()
            )
            successes = [item for item in ordered if item.succeeded]
            failures = [item for item in ordered if not item.succeeded]
            batch.output_file_id = self._write(batch, "output", successes)
            batch.error_file_id = self._write(batch, "error", failures)
        batch.status = status
        batch.times[status] = at
        self.on_finished(batch, f"batch.{status}")

    def _write(self, batch: Batch, kind: str, items: list[Item]) -> str | None:
        if not items:
            return None
        return self.files.add(f"{batch.id}_{kind}.jsonl", "batch_output", result_lines(items)).id


def batch_json(batch: Batch) -> dict[str, Any]:
    counted = batch.status not in ("validating", "failed")
    times = {key: int(value) for key, value in batch.times.items()}
    input_tokens, output_tokens = batch.usage["input"], batch.usage["output"]
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "model": batch.model,
        "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
        "input_file_id": batch.input_file_id,
        "completion_window": "24h",
        "status": batch.status,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": int(batch.created_at),
        "in_progress_at": times.get("in_progress"),
        "expires_at": int(batch.expires_at),
        "finalizing_at": times.get("finalizing"),
        "completed_at": times.get("completed"),
        "failed_at": times.get("failed"),
        "expired_at": times.get("expired"),
        "cancelling_at": times.get("cancelling"),
        "cancelled_at": times.get("cancelled"),
        "request_counts": {
            "total": len(batch.items) if counted else 0,
            "completed": batch.completed,
            "failed": batch.failed,
        },
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": batch.usage["cached"]},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
        "metadata": batch.metadata,
    }
