"""The OpenAI Batch API through the official SDK (``PROVIDERS.md``).

A batch is a JSONL file of ``{"custom_id", "method", "url", "body"}`` lines uploaded with
``purpose="batch"``, then ``batches.create`` on it; each body is exactly the realtime body
of the model's endpoint, so batch requests share the realtime prefix bytes. Limits: 50,000
requests and 200 MB per file. The submission's label goes into the batch's ``metadata``,
which is how ``find`` recognises a batch whose id was never recorded; the input file, which
the provider keeps, names every request (``custom_ids``) from the moment the batch exists.

Results: successes in the output file, failures in the error file, matched on
``custom_id``. A line with an HTTP status of 400, 404 or 422 is a request the endpoint
rejects (sending it again cannot help); ``batch_expired`` and ``batch_cancelled`` errors are
items never run; anything else is worth another try. A batch where every request failed has
no output file; a batch that failed validation has neither file, and its items come back
with no result at all (the executor treats those as errored).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import openai

from blockpass.errors import BatchNotFound
from blockpass.providers.batches import (
    MISSING,
    BatchItem,
    BatchItemResult,
    BatchLimits,
    BatchStatus,
    ItemOutcome,
    sdk_errors,
)
from blockpass.providers.openai import OpenAIProvider, translate_error

LIMITS = BatchLimits(max_requests=50_000, max_bytes=200 * 1024 * 1024)
LABEL_KEY = "blockpass_submission"
ENDED = frozenset({"completed", "failed", "expired", "cancelled"})
_REJECTED_STATUSES = frozenset({400, 404, 422})
_UNRUN = {"batch_expired": ItemOutcome.EXPIRED, "batch_cancelled": ItemOutcome.CANCELED}
_LISTING_PAGE = 100


class OpenAIBatches:
    def __init__(self, provider: OpenAIProvider) -> None:
        self._provider = provider
        self._client = provider.client

    @property
    def limits(self) -> BatchLimits:
        return LIMITS

    def _line(self, item: BatchItem) -> bytes:
        line = {
            "custom_id": item.custom_id,
            "method": "POST",
            "url": self._provider.endpoint,
            "body": self._provider.request_body(item.request),
        }
        return json.dumps(line, ensure_ascii=False).encode() + b"\n"

    def item_size(self, item: BatchItem) -> int:
        return len(self._line(item))

    async def submit(self, items: Sequence[BatchItem], *, label: str) -> str:
        content = b"".join(self._line(item) for item in items)
        async with _translated(self._provider):
            upload = await self._client.files.create(
                file=(f"{label}.jsonl", content, "application/jsonl"), purpose="batch"
            )
            batch = await self._client.batches.create(
                input_file_id=upload.id,
                endpoint=self._provider.endpoint,  # type: ignore[arg-type]
                completion_window="24h",
                metadata={LABEL_KEY: label},
            )
        return batch.id

    async def find(self, label: str, *, created_after: float, count: int) -> list[str]:
        found: list[str] = []
        async with _translated(self._provider):
            async for batch in self._client.batches.list(limit=_LISTING_PAGE):
                if batch.created_at < int(created_after):
                    break  # the listing is newest first
                if (batch.metadata or {}).get(LABEL_KEY) == label:
                    found.append(batch.id)
        return found

    async def custom_ids(self, batch_id: str) -> frozenset[str]:
        try:
            async with _translated(self._provider):
                batch = await self._client.batches.retrieve(batch_id)
                content = await self._client.files.content(batch.input_file_id)
        except BatchNotFound:
            return frozenset()
        return frozenset(str(json.loads(line).get("custom_id")) for line in _lines(content.text))

    async def status(self, batch_id: str) -> BatchStatus:
        try:
            async with _translated(self._provider):
                batch = await self._client.batches.retrieve(batch_id)
        except BatchNotFound:
            return MISSING
        counts = batch.request_counts.model_dump() if batch.request_counts else {}
        return BatchStatus(ended=batch.status in ENDED, status=batch.status, counts=counts)

    async def results(self, batch_id: str) -> list[BatchItemResult]:
        found: list[BatchItemResult] = []
        try:
            async with _translated(self._provider):
                batch = await self._client.batches.retrieve(batch_id)
                for file_id in (batch.output_file_id, batch.error_file_id):
                    if file_id:
                        content = await self._client.files.content(file_id)
                        found += [
                            self._item_result(json.loads(line)) for line in _lines(content.text)
                        ]
        except BatchNotFound:
            return []
        return found

    async def cancel(self, batch_id: str) -> None:
        async with _translated(self._provider):
            await self._client.batches.cancel(batch_id)

    def _item_result(self, line: dict[str, Any]) -> BatchItemResult:
        custom_id = str(line.get("custom_id", ""))
        response = line.get("response") or {}
        status = response.get("status_code")
        if status == 200:
            return BatchItemResult(
                custom_id=custom_id,
                outcome=ItemOutcome.SUCCEEDED,
                response=self._provider.parse_response_body(response["body"]),
            )
        if status is not None:
            error = (response.get("body") or {}).get("error") or {}
            rejected = status in _REJECTED_STATUSES
            return BatchItemResult(
                custom_id=custom_id,
                outcome=ItemOutcome.INVALID if rejected else ItemOutcome.ERRORED,
                error=f"HTTP {status}: {error.get('message') or error.get('code') or ''}".strip(),
            )
        error = line.get("error") or {}
        code = str(error.get("code") or "error")
        return BatchItemResult(
            custom_id=custom_id,
            outcome=_UNRUN.get(code, ItemOutcome.ERRORED),
            error=f"{code}: {error.get('message') or ''}".strip(),
        )


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _translated(provider: OpenAIProvider) -> AbstractAsyncContextManager[None]:
    return sdk_errors(
        provider=provider.name,
        base_url=provider.client.base_url,
        not_found=openai.NotFoundError,
        status_error=openai.APIStatusError,
        connection_error=openai.APIConnectionError,
        translate=translate_error,
    )
