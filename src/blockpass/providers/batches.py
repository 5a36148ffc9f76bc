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

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import httpx2

from blockpass.errors import BatchNotFound, BlockpassError, NeverReached, ProviderUnreachable
from blockpass.providers.base import ModelRequest, ModelResponse
from blockpass.providers.transport import connection_failure

__all__ = [
    "MISSING",
    "BatchApi",
    "BatchItem",
    "BatchItemResult",
    "BatchLimits",
    "BatchStatus",
    "ItemOutcome",
    "ReachedOnce",
    "sdk_errors",
]

_T = TypeVar("_T")


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


class ReachedOnce:
    """A batch API whose unreachability ends the run until it has answered once.

    Before any answer, a connection that cannot be made means a wrong address or a server
    that is not up: ``NeverReached``, which no retry or look-again loop catches. After one,
    it is the ordinary transient ``ProviderUnreachable`` the run waits out.
    """

    def __init__(self, api: BatchApi) -> None:
        self._api = api
        self._answered = False

    @property
    def limits(self) -> BatchLimits:
        return self._api.limits

    def item_size(self, item: BatchItem) -> int:
        return self._api.item_size(item)

    async def submit(self, items: Sequence[BatchItem], *, label: str) -> str:
        return await self._answer(self._api.submit(items, label=label))

    async def find(self, label: str, *, created_after: float, count: int) -> list[str]:
        return await self._answer(self._api.find(label, created_after=created_after, count=count))

    async def custom_ids(self, batch_id: str) -> frozenset[str] | None:
        return await self._answer(self._api.custom_ids(batch_id))

    async def status(self, batch_id: str) -> BatchStatus:
        return await self._answer(self._api.status(batch_id))

    async def results(self, batch_id: str) -> list[BatchItemResult]:
        return await self._answer(self._api.results(batch_id))

    async def cancel(self, batch_id: str) -> None:
        await self._answer(self._api.cancel(batch_id))

    async def _answer(self, call: Awaitable[_T]) -> _T:
        try:
            answer = await call
        except ProviderUnreachable as error:
            if self._answered:
                raise
            raise NeverReached(str(error)) from None
        except BlockpassError:
            # Any other failure came over a connection that was made: the provider is there.
            self._answered = True
            raise
        self._answered = True
        return answer


@asynccontextmanager
async def sdk_errors(
    *,
    provider: str,
    base_url: object,
    not_found: type[Exception],
    status_error: type[Exception],
    connection_error: type[Exception],
    translate: Callable[[Any], BlockpassError],
) -> AsyncIterator[None]:
    """One SDK's errors into blockpass's error tree, as for its realtime calls (``provider``
    at ``base_url``); a 404 is a batch the provider does not know."""
    try:
        yield
    except not_found as error:
        raise BatchNotFound(str(error)) from None
    except status_error as error:
        raise translate(error) from None
    except (connection_error, httpx2.TransportError) as error:
        raise connection_failure(provider, base_url, error) from None
