"""Waiting for a provider batch to end.

Each batch's status is polled with backoff; in between, the run store is read every
``store_check`` seconds, where a webhook receiver (``blockpass webhooks``) may have recorded
that the batch ended (``record_batch_event``), so the results are collected without waiting
for the next poll. Past the run's deadline the batch is cancelled once; its finished items
are still collected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from blockpass.errors import ProviderRejected, TransientProviderError
from blockpass.execution.clock import Clock
from blockpass.providers.batches import BatchApi
from blockpass.store import BatchState, RunStore

if TYPE_CHECKING:
    # batch.py imports this module; the settings are only read here.
    from blockpass.execution.batch import BatchSettings

__all__ = ["BatchWaiting", "past_deadline", "record_batch_event"]

_log = logging.getLogger(__name__)


def past_deadline(deadline: float | None, clock: Clock) -> bool:
    return deadline is not None and clock.now() >= deadline


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchWaiting:
    store: RunStore
    api: BatchApi
    settings: BatchSettings
    clock: Clock

    async def wait(self, batch_id: int, remote_id: str) -> str:
        """Poll with backoff until the batch ends, reading the store in between for a webhook's
        word; past the deadline, cancel it once. Returns the provider's final status."""
        delay = self.settings.poll_initial
        next_poll = 0.0
        cancelled = False
        while True:
            stored = await self.store.batch_by_remote_id(remote_id)
            if stored is not None and stored.state is BatchState.ENDED:
                return stored.remote_status
            now = self.clock.now()
            if past_deadline(self.settings.deadline, self.clock) and not cancelled:
                cancelled = True
                next_poll = now
                try:
                    await self.api.cancel(remote_id)
                except (TransientProviderError, ProviderRejected) as error:
                    _log.warning("cancelling batch %s failed: %s", remote_id, error)
            if now >= next_poll:
                try:
                    status = await self.api.status(remote_id)
                except TransientProviderError as error:
                    _log.warning("polling batch %s failed: %s", remote_id, error)
                else:
                    if status.ended:
                        await self.store.update_batch(
                            batch_id, BatchState.ENDED, remote_status=status.status
                        )
                        return status.status
                    await self.store.update_batch(
                        batch_id, BatchState.SUBMITTED, remote_status=status.status
                    )
                next_poll = now + delay
                delay = min(delay * self.settings.poll_factor, self.settings.poll_max)
            await self.clock.sleep(max(0.0, min(self.settings.store_check, next_poll - now)))


async def record_batch_event(store: RunStore, api: BatchApi, remote_id: str) -> bool:
    """What a webhook for ``remote_id`` means to a run: False if the run has no such batch.

    The event only says something happened; the batch is fetched and its status stored, and
    a run waiting on it collects the results on its next look at the store.
    """
    stored = await store.batch_by_remote_id(remote_id)
    if stored is None:
        return False
    status = await api.status(remote_id)
    state = BatchState.ENDED if status.ended else stored.state
    await store.update_batch(stored.id, state, remote_status=status.status)
    return True
