"""The batch seam: a provider's Batch API, in provider-neutral terms.

A batch adapter (``anthropic_batches.py``, ``openai_batches.py``) sends many requests as one
batch at half price and reads back one result per request, matched on ``custom_id`` (results
come in any order). It knows its vendor's limits and wire format; when to submit, how to
wait, and what to do with each result belong to ``execution/batch.py``.

Item outcomes, from ``PROVIDERS.md``:

    succeeded   an answer, billed (at the batch discount)
    invalid     the request itself was rejected: sending it again cannot help
    errored     any other error; worth another try
    expired     not processed before the batch's window closed; not billed
    canceled    not processed because the batch was cancelled; not billed
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import httpx2

from blockpass.errors import BatchNotFound, BlockpassError, TransientProviderError
from blockpass.providers.base import ModelRequest, ModelResponse

__all__ = [
    "MISSING",
    "BatchApi",
    "BatchItem",
    "BatchItemResult",
    "BatchLimits",
    "BatchStatus",
    "ItemOutcome",
    "sdk_errors",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchLimits:
    max_requests: int
    max_bytes: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchItem:
    custom_id: str
    request: ModelRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchStatus:
    """``ended``: no item will change any more; ``status`` is the provider's own word."""

    ended: bool
    status: str
    counts: dict[str, int] = field(default_factory=dict)


# A batch the provider no longer knows (deleted, or a sandbox that restarted): it is over,
# and none of its items will ever have a result.
MISSING = BatchStatus(ended=True, status="missing")


class ItemOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    INVALID = "invalid"
    ERRORED = "errored"
    EXPIRED = "expired"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchItemResult:
    custom_id: str
    outcome: ItemOutcome
    response: ModelResponse | None = None
    error: str = ""


class BatchApi(Protocol):
    @property
    def limits(self) -> BatchLimits: ...

    def item_size(self, item: BatchItem) -> int:
        """Bytes the item adds to a batch, as the provider counts them against ``max_bytes``."""
        ...

    async def submit(self, items: Sequence[BatchItem], *, label: str) -> str:
        """Create one batch; return its id. ``label`` is this submission's unique name."""
        ...

    async def find(self, label: str, *, created_after: float, count: int) -> list[str]:
        """Ids of batches that may be the submission ``label`` (of ``count`` items).

        After a crash between the provider accepting a batch and the store recording its
        id, this is how the batch is found again instead of being paid for twice. Being
        found proves nothing: another run's batch can match too (``custom_ids`` proves).
        """
        ...

    async def custom_ids(self, batch_id: str) -> frozenset[str] | None:
        """The ``custom_id`` of every request in the batch, as the provider returns them.

        None while the provider does not show them yet (Anthropic: until the batch has
        ended); empty for a batch the provider no longer knows.
        """
        ...

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def results(self, batch_id: str) -> list[BatchItemResult]:
        """Every item's result; only once the batch has ended."""
        ...

    async def cancel(self, batch_id: str) -> None: ...


@asynccontextmanager
async def sdk_errors(
    *,
    not_found: type[Exception],
    status_error: type[Exception],
    connection_error: type[Exception],
    translate: Callable[[Any], BlockpassError],
) -> AsyncIterator[None]:
    """One SDK's errors into blockpass's error tree, as for its realtime calls; a 404 is a
    batch the provider does not know."""
    try:
        yield
    except not_found as error:
        raise BatchNotFound(str(error)) from None
    except status_error as error:
        raise translate(error) from None
    except (connection_error, httpx2.TransportError) as error:
        raise TransientProviderError(f"connection to the batch API failed: {error}") from None
