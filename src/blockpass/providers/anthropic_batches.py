"""Anthropic Message Batches through the official SDK (``PROVIDERS.md``).

Each item is ``{"custom_id", "params"}`` where ``params`` is exactly the realtime body, so a
batch request caches the same prefix bytes as a realtime one. Limits: 100,000 requests or
256 MB per batch. A batch has no metadata field, so ``find`` cannot match a submission by
name: it offers the batches created since the submission began with the same number of
requests, oldest first, any of which may be another run's. Only the results name the
requests (``custom_ids``), and they exist only once a batch has ended.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

import anthropic

from blockpass.errors import BatchNotFound
from blockpass.providers.anthropic import AnthropicProvider, message_response, translate_error
from blockpass.providers.batches import (
    MISSING,
    BatchItem,
    BatchItemResult,
    BatchLimits,
    BatchStatus,
    ItemOutcome,
    sdk_errors,
)

LIMITS = BatchLimits(max_requests=100_000, max_bytes=256 * 1024 * 1024)
# The envelope a request adds around its params in the create body.
_ENVELOPE_BYTES = 40
_LISTING_PAGE = 100


class AnthropicBatches:
    def __init__(self, provider: AnthropicProvider) -> None:
        self._provider = provider
        self._batches = provider.client.messages.batches

    @property
    def limits(self) -> BatchLimits:
        return LIMITS

    def item_size(self, item: BatchItem) -> int:
        params = json.dumps(self._provider.request_body(item.request), ensure_ascii=False)
        return len(params.encode()) + len(item.custom_id) + _ENVELOPE_BYTES

    async def submit(self, items: Sequence[BatchItem], *, label: str) -> str:
        requests = [
            {"custom_id": item.custom_id, "params": self._provider.request_body(item.request)}
            for item in items
        ]
        async with _translated(self._provider):
            batch = await self._batches.create(requests=requests)  # type: ignore[arg-type]
        return batch.id

    async def find(self, label: str, *, created_after: float, count: int) -> list[str]:
        found: list[tuple[float, str]] = []
        async with _translated(self._provider):
            async for batch in self._batches.list(limit=_LISTING_PAGE):
                created = batch.created_at.timestamp()
                if created < created_after:
                    break  # the listing is newest first
                counts = batch.request_counts
                total = (
                    counts.processing
                    + counts.succeeded
                    + counts.errored
                    + counts.canceled
                    + counts.expired
                )
                if total == count:
                    found.append((created, batch.id))
        return [batch_id for _, batch_id in sorted(found)]

    async def custom_ids(self, batch_id: str) -> frozenset[str] | None:
        status = await self.status(batch_id)
        if not status.ended:
            return None
        return frozenset(result.custom_id for result in await self.results(batch_id))

    async def status(self, batch_id: str) -> BatchStatus:
        try:
            async with _translated(self._provider):
                batch = await self._batches.retrieve(batch_id)
        except BatchNotFound:
            return MISSING
        return BatchStatus(
            ended=batch.processing_status == "ended",
            status=batch.processing_status,
            counts=batch.request_counts.model_dump(),
        )

    async def results(self, batch_id: str) -> list[BatchItemResult]:
        found: list[BatchItemResult] = []
        try:
            async with _translated(self._provider):
                async for line in await self._batches.results(batch_id):
                    found.append(_item_result(line))
        except BatchNotFound:
            return []
        return found

    async def cancel(self, batch_id: str) -> None:
        async with _translated(self._provider):
            await self._batches.cancel(batch_id)


def _item_result(line: anthropic.types.messages.MessageBatchIndividualResponse) -> BatchItemResult:
    result = line.result
    if result.type == "succeeded":
        return BatchItemResult(
            custom_id=line.custom_id,
            outcome=ItemOutcome.SUCCEEDED,
            response=message_response(result.message),
        )
    if result.type == "errored":
        error = result.error.error
        invalid = error.type == "invalid_request_error"
        return BatchItemResult(
            custom_id=line.custom_id,
            outcome=ItemOutcome.INVALID if invalid else ItemOutcome.ERRORED,
            error=f"{error.type}: {error.message}",
        )
    outcome = ItemOutcome.EXPIRED if result.type == "expired" else ItemOutcome.CANCELED
    return BatchItemResult(custom_id=line.custom_id, outcome=outcome, error=result.type)


def _translated(provider: AnthropicProvider) -> AbstractAsyncContextManager[None]:
    return sdk_errors(
        provider=provider.name,
        base_url=provider.client.base_url,
        not_found=anthropic.NotFoundError,
        status_error=anthropic.APIStatusError,
        connection_error=anthropic.APIConnectionError,
        translate=translate_error,
    )
