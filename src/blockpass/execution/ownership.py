"""Which provider batch is a run's own, proven from what the provider returns.

A submission draws a random token before anything is sent; the token names it (``label``)
and ends every request's ``custom_id``, and both are stored with its packs before the
submit call. No other run, even one on the same documents with the same pack ids, sends the
same custom ids, so a batch whose requests carry exactly the stored custom ids is this
submission's, and any other is not. Timing and size only say which batches to look at.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from blockpass.errors import TransientProviderError
from blockpass.providers.batches import BatchApi
from blockpass.store import BatchState, RunStore, StoredBatch

__all__ = [
    "CLOCK_SKEW_SECONDS",
    "TOKEN_SHAPE",
    "Sighting",
    "custom_id",
    "look_for",
    "new_token",
    "possibly_ours",
    "possibly_ours_line",
]

# How far back a lost submission's batch is looked for: clocks differ between hosts.
CLOCK_SKEW_SECONDS = 300.0
# What a token is measured by before it is drawn: the same length as ``new_token``'s.
TOKEN_SHAPE = "0" * 32

_log = logging.getLogger(__name__)


def new_token() -> str:
    return uuid.uuid4().hex


def custom_id(pack_id: str, token: str) -> str:
    # Pack ids are 22 characters and tokens 32: well within the 64 the providers allow.
    return f"{pack_id}-{token}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Sighting:
    """One look at the provider for a submission whose id was never stored.

    ``ours``: the batch proven to be it. ``unproven``: batches that may be it but do not show
    their custom ids yet; None when the provider could not be asked at all. ``not_ours``:
    batches proven to be another submission's (no need to read them again).
    """

    ours: str | None = None
    unproven: tuple[str, ...] | None = ()
    not_ours: frozenset[str] = frozenset()


async def look_for(
    store: RunStore, api: BatchApi, batch: StoredBatch, *, not_ours: frozenset[str] = frozenset()
) -> Sighting:
    """One look at the provider; ``not_ours`` are batches an earlier look ruled out."""
    skip = not_ours | {stored.remote_id for stored in await store.batches() if stored.remote_id}
    ours = frozenset(item.custom_id for item in batch.items)
    unproven: list[str] = []
    ruled_out = set(not_ours)
    try:
        candidates = await api.find(
            batch.label,
            created_after=batch.created_at - CLOCK_SKEW_SECONDS,
            count=len(batch.items),
        )
        for remote_id in candidates:
            if remote_id in skip:
                continue
            shown = await api.custom_ids(remote_id)
            if shown == ours:
                return Sighting(ours=remote_id)
            if shown is None:
                unproven.append(remote_id)
            else:
                ruled_out.add(remote_id)
    except TransientProviderError as error:
        _log.warning("looking for batch %s failed: %s", batch.label, error)
        return Sighting(unproven=None, not_ours=frozenset(ruled_out))
    return Sighting(unproven=tuple(unproven), not_ours=frozenset(ruled_out))


def possibly_ours(batches: Sequence[StoredBatch]) -> list[str]:
    """One line for each submission given up unproven (state ``unproven``)."""
    return [
        possibly_ours_line(batch, batch.remote_status)
        for batch in batches
        if batch.state is BatchState.UNPROVEN
    ]


def possibly_ours_line(batch: StoredBatch, suspects: str) -> str:
    blocks = sum(len(item.block_ids) for item in batch.items)
    return (
        f"possibly ours, not touched: {suspects or 'a batch the provider could not be asked'}"
        f" (submission {batch.label} of {len(batch.items)} packs, {blocks} blocks); those"
        " blocks were sent again, so they may have been paid for twice"
    )
