"""Batch execution: packs to provider batches, durable across restarts.

A round packs the blocks still to do, submits them as one or more batches (split at the
provider's request and byte limits), waits for every batch to end, and takes each item's
answer exactly as realtime execution takes a call's (``packwork.py``). Items that come
back errored, expired or canceled go into the next round's batch; items the provider
rejects as invalid fail with the provider's reason, never retried.

Caching: every request marks the shared prefix with the 1-hour TTL (a batch can take far
longer than 5 minutes), and, by policy, the first round primes the cache: one single-pack
batch first, the rest once it has ended, so that the rest can read what it wrote.

Waiting (``batch_waiting.py``): polls with backoff, and reads the store in between for a
webhook's word.

Durability (``store/base.py``): a batch and its packs are stored before the submit call and
its id right after it returns. On restart, every batch not yet collected is resumed, waited
for and collected. Collecting an item stores its call and results in one transaction that
marks it collected, so nothing is stored twice and nothing already submitted is submitted
again.

Ownership (``ownership.py``): a run cancels, collects and counts only batches it can prove
are its own. Each submission draws a random token, stored with its packs before the submit
call, that ends every request's ``custom_id``, so no other run, even on the same documents,
sends the same custom ids. A submission whose id was never stored (a crash, or an answer
lost to a transient error) is looked for at the provider (``BatchApi.find``: same size,
created since; any of them may be another run's), and a candidate is adopted only if the
custom ids the provider returns for it (``custom_ids``) are exactly the submission's.
Anthropic shows them only once a batch has ended, so:

- a candidate that has not ended yet is "possibly ours": it is never cancelled, collected or
  counted; the run polls and looks again until it can tell (a batch ends within 24 hours);
- no candidate left, or every one proven another run's: the provider never accepted the
  submission, which is abandoned; its packs go into the next round (no double payment);
- past the deadline with candidates still unproven: the submission is stored ``unproven``
  with their ids and its packs are sent again (in realtime); the report says "possibly ours,
  not touched", a possible double payment if one of them was ours.

Leases: a round's blocks are leased (``block_leases.py``, the realtime executor's leases)
until the round ends, so an outside agent working on the same run never gets them; blocks an
agent holds wait for the next round, or for its lease to end.

Deadline: past ``deadline``, batches still running are cancelled (their finished items are
kept) and whatever is left goes through realtime execution.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

import anyio

from blockpass.blocks import Block
from blockpass.errors import ProviderRejected, TransientProviderError
from blockpass.execution.batch_waiting import BatchWaiting, past_deadline
from blockpass.execution.clock import SYSTEM_CLOCK, Clock
from blockpass.execution.ownership import (
    TOKEN_SHAPE,
    Sighting,
    custom_id,
    look_for,
    new_token,
    possibly_ours_line,
)
from blockpass.execution.packwork import ExecutionParts, ExecutionStats
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.packing import Pack
from blockpass.providers.base import CacheTtl, ModelRequest
from blockpass.providers.batches import (
    BatchApi,
    BatchItem,
    BatchItemResult,
    ItemOutcome,
    ReachedOnce,
)
from blockpass.store import BatchItemRecord, BatchState, StoredBatch

__all__ = ["BATCH_GAP_SECONDS", "BatchExecutor", "BatchSettings"]

# The gap the cache TTL is chosen for: a batch item may run an hour after the one before.
BATCH_GAP_SECONDS = 3600.0
_SUBMIT_ATTEMPTS = 5

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSettings:
    prime: bool = True
    poll_initial: float = 5.0
    poll_factor: float = 1.5
    poll_max: float = 60.0
    store_check: float = 1.0
    deadline: float | None = None  # Unix time
    # A batch request's latency does not matter, and every request pays for the prefix again
    # (a read, or a 1h write when the best-effort cache misses): bigger packs, fewer prefixes.
    # The planned answer length still caps them, and so does the model's measured bound
    # where answers were measured to get worse past it (packing.batch_pack_bound); None: the
    # realtime bound.
    max_blocks: int | None = 400
    max_requests: int | None = None  # below the provider's limit, to split smaller
    max_bytes: int | None = None


class BatchExecutor:
    def __init__(
        self,
        *,
        provider_name: str,
        api: BatchApi,
        parts: ExecutionParts,
        realtime: RealtimeExecutor,
        settings: BatchSettings | None = None,
        on_submitted: Callable[[StoredBatch], None] = lambda batch: None,
        on_ended: Callable[[StoredBatch], None] = lambda batch: None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._provider_name = provider_name
        self._clock = clock
        self._api = ReachedOnce(api)
        self._parts = parts
        self._store = parts.recorder.store
        self._realtime = realtime
        self._settings = settings or BatchSettings()
        self._on_submitted = on_submitted
        self._on_ended = on_ended
        self._waiting = BatchWaiting(
            store=self._store, api=self._api, settings=self._settings, clock=clock
        )

    @property
    def stats(self) -> ExecutionStats:
        return self._parts.stats

    async def run(self, blocks: Sequence[Block]) -> ExecutionStats:
        by_id = {block.id: block for block in blocks}
        lane = self._parts.lane
        resumed = [
            batch for batch in await self._store.batches(open_only=True) if batch.belongs_to(lane)
        ]
        in_flight = {
            block_id for batch in resumed for item in batch.items for block_id in item.block_ids
        }
        queue = [block for block in blocks if block.id not in in_flight]
        queue += await self._finish_all(resumed, by_id)
        primed = any(
            batch.state is BatchState.COLLECTED and batch.belongs_to(lane)
            for batch in await self._store.batches()
        )
        leases = self._realtime.leases
        async with leases.kept():
            while queue:
                if self._past_deadline():
                    await self._realtime.run(queue)
                    break
                # A round's blocks are leased until it ends: an outside agent on the run
                # (``block_leases.py``) never gets them while they are at the provider.
                claimed = await leases.claim(queue)
                self._parts.recorder.progress(len(claimed.done_elsewhere))
                if not claimed.leased:
                    queue, done = await leases.wait_for(list(claimed.held_elsewhere))
                    self._parts.recorder.progress(done)
                    continue
                planner = self._parts.planner
                bound = planner.batch_pack_bound(self._settings.max_blocks)
                packs = planner.plan(claimed.leased, max_blocks=bound, ttl=CacheTtl.ONE_HOUR)
                again: list[Block] = []
                # The pack that writes the most of what the others read (the prefix, or the
                # prefix and the shared units) primes the cache alone.
                writer = max(packs, key=self._parts.layout.cached_tokens)
                cached = self._parts.layout.cached_tokens(writer)
                if self._settings.prime and cached and not primed and len(packs) > 1:
                    packs.remove(writer)
                    again += await self._round([writer], by_id, priming=True)
                primed = True
                again += await self._round(packs, by_id, priming=False)
                self.stats.resubmitted_blocks += len(again)
                kept = {block.id for block in again}
                await leases.release([block for block in claimed.leased if block.id not in kept])
                queue = [*again, *claimed.held_elsewhere]
        return self.stats

    async def submit_packs(self, packs: list[Pack], *, priming: bool = False) -> StoredBatch | None:
        """One batch of ``packs``, stored, submitted and its id stored; None if the provider
        refused it. A distributed run's batch job, which a poll job then follows."""
        return await self._submit(packs, priming=priming)

    async def collect(self, batch: StoredBatch, blocks: Sequence[Block]) -> list[Block]:
        """Wait for ``batch`` to end (at once if the store says it has) and take every item
        not taken before; return the blocks to send again."""
        return await self._finish(batch, {block.id: block for block in blocks})

    def _past_deadline(self) -> bool:
        return past_deadline(self._settings.deadline, self._clock)

    async def _round(
        self, packs: list[Pack], by_id: dict[str, Block], *, priming: bool
    ) -> list[Block]:
        submitted: list[StoredBatch] = []
        retry: list[Block] = []
        for group in self._split(packs):
            batch = await self._submit(group, priming=priming)
            if batch is None:
                retry += await self._parts.retry_or_fail(
                    [block for pack in group for block in pack.blocks],
                    "the provider refused the batch",
                    smaller=False,
                )
            else:
                submitted.append(batch)
        return retry + await self._finish_all(submitted, by_id)

    def _split(self, packs: list[Pack]) -> list[list[Pack]]:
        limits = self._api.limits
        max_requests = min(limits.max_requests, self._settings.max_requests or math.inf)
        max_bytes = min(limits.max_bytes, self._settings.max_bytes or math.inf)
        groups: list[list[Pack]] = [[]]
        size = 0
        for pack in packs:
            item_size = self._api.item_size(self._item(pack, TOKEN_SHAPE))
            current = groups[-1]
            if current and (len(current) >= max_requests or size + item_size > max_bytes):
                groups.append([])
                size = 0
            groups[-1].append(pack)
            size += item_size
        return [group for group in groups if group]

    def _item(self, pack: Pack, token: str) -> BatchItem:
        return BatchItem(custom_id=custom_id(pack.id, token), request=self._request(pack))

    def _request(self, pack: Pack) -> ModelRequest:
        return self._parts.layout.request(pack, expected_gap_seconds=BATCH_GAP_SECONDS)

    async def _submit(self, packs: list[Pack], *, priming: bool) -> StoredBatch | None:
        """Store the batch, submit it, store its id; None if the provider refused it.

        A batch still ``submitting`` comes back when a lost answer left a batch at the
        provider that may be this one: ``_finish`` finds out whose it is.
        """
        token = new_token()
        label = f"blockpass-{token}"
        items = [self._item(pack, token) for pack in packs]
        batch = await self._store.add_batch(
            label=label,
            provider=self._provider_name,
            lane=self._parts.lane,
            items=[
                BatchItemRecord(
                    custom_id=item.custom_id, block_ids=tuple(block.id for block in pack.blocks)
                )
                for item, pack in zip(items, packs, strict=True)
            ],
            priming=priming,
        )
        for attempt in range(_SUBMIT_ATTEMPTS):
            try:
                remote_id = await self._api.submit(items, label=label)
            except ProviderRejected as error:
                _log.warning("batch %s refused: %s", label, error)
                await self._store.update_batch(batch.id, BatchState.ABANDONED)
                return None
            except TransientProviderError as error:
                # The batch may exist although the answer was lost: never create it twice.
                _log.warning("submitting batch %s failed (%s); looking for it", label, error)
                adopted, sighting = await self._look_for(batch)
                if adopted is not None:
                    return adopted
                if sighting.unproven != ():
                    return batch
                await self._clock.sleep(self._parts.settings.backoff_base * 2.0**attempt)
                continue
            await self._store.update_batch(batch.id, BatchState.SUBMITTED, remote_id=remote_id)
            return await self._submitted(batch, remote_id)
        await self._store.update_batch(batch.id, BatchState.ABANDONED)
        return None

    async def _submitted(self, batch: StoredBatch, remote_id: str) -> StoredBatch:
        stored = await self._store.batch_by_remote_id(remote_id)
        assert stored is not None
        self.stats.batches += 1
        self._on_submitted(stored)
        return stored

    async def _look_for(
        self, batch: StoredBatch, not_ours: frozenset[str] = frozenset()
    ) -> tuple[StoredBatch | None, Sighting]:
        """The batch proven to be a submission whose id was never stored, adopted; and what
        else was seen."""
        sighting = await look_for(self._store, self._api, batch, not_ours=not_ours)
        if sighting.ours is None:
            return None, sighting
        await self._store.update_batch(batch.id, BatchState.SUBMITTED, remote_id=sighting.ours)
        return await self._submitted(batch, sighting.ours), sighting

    async def _claim(self, batch: StoredBatch) -> StoredBatch | None:
        """The provider's batch for a submission whose id was never stored, once proven to
        be it; None once the submission is given up (the module docstring says when)."""
        delay = self._settings.poll_initial
        not_ours: frozenset[str] = frozenset()
        while True:
            adopted, sighting = await self._look_for(batch, not_ours)
            not_ours = sighting.not_ours
            if adopted is not None:
                return adopted
            if sighting.unproven == ():
                await self._store.update_batch(batch.id, BatchState.ABANDONED)
                return None
            if self._past_deadline():
                suspects = " ".join(sighting.unproven or ())
                await self._store.update_batch(
                    batch.id, BatchState.UNPROVEN, remote_status=suspects
                )
                _log.warning("%s", possibly_ours_line(batch, suspects))
                return None
            await self._clock.sleep(delay)
            delay = min(delay * self._settings.poll_factor, self._settings.poll_max)

    async def _finish_all(
        self, batches: Sequence[StoredBatch], by_id: dict[str, Block]
    ) -> list[Block]:
        retry: list[Block] = []

        async def finish(batch: StoredBatch) -> None:
            retry.extend(await self._finish(batch, by_id))

        async with anyio.create_task_group() as group:
            for batch in batches:
                group.start_soon(finish, batch)
        return retry

    async def _finish(self, batch: StoredBatch, by_id: dict[str, Block]) -> list[Block]:
        """Wait for a batch to end and take every item not taken before."""
        remote_id = batch.remote_id
        if batch.state is BatchState.SUBMITTING:
            adopted = await self._claim(batch)
            if adopted is None:
                return self._blocks(batch.items, by_id)
            remote_id = adopted.remote_id
        assert remote_id is not None
        status = await self._waiting.wait(batch.id, remote_id)
        self._on_ended(batch)
        results = {result.custom_id: result for result in await self._api.results(remote_id)}
        retry: list[Block] = []
        for item in batch.items:
            blocks = self._blocks([item], by_id)
            if item.collected:
                # Taken before a restart; what it left without a result is still to do.
                retry += blocks
                continue
            if not blocks:
                continue
            result = results.get(item.custom_id) or BatchItemResult(
                custom_id=item.custom_id,
                outcome=ItemOutcome.ERRORED,
                error=f"no result for this request (batch {status})",
            )
            pack = self._parts.planner.pack_of(blocks)
            retry += await self._take_item(batch, item.custom_id, pack, result)
        await self._store.update_batch(batch.id, BatchState.COLLECTED)
        return retry

    @staticmethod
    def _blocks(items: Sequence[BatchItemRecord], by_id: dict[str, Block]) -> list[Block]:
        """The blocks of stored items still to do in this run, in pack order."""
        return [
            by_id[block_id] for item in items for block_id in item.block_ids if block_id in by_id
        ]

    async def _take_item(
        self, batch: StoredBatch, custom_id: str, pack: Pack, result: BatchItemResult
    ) -> list[Block]:
        store_call = partial(self._store.record_batch_item, batch.id, custom_id)
        started = batch.submitted_at or batch.created_at
        # Attempt 2 and up: the pack's blocks were in a batch item before (a resubmission).
        attempt = 1 + max(self._parts.retries.attempts(block) for block in pack.blocks)
        if result.outcome is ItemOutcome.SUCCEEDED and result.response is not None:
            self.stats.calls += 1
            call = self._parts.recorder.call_record(
                pack, status="ok", started=started, batch=True, attempt=attempt
            )
            return await self._parts.take_answer(pack, result.response, call, store_call)
        call = self._parts.recorder.call_record(
            pack,
            status=result.outcome.value,
            started=started,
            batch=True,
            error=result.error,
            attempt=attempt,
        )
        retry: list[Block] = []
        spent = list(pack.blocks)
        if result.outcome is not ItemOutcome.INVALID:
            retry, spent = self._parts.retries.count_attempt(pack.blocks)
        failures = self._parts.retries.failed(
            spent, f"batch item {result.outcome.value}: {result.error}"
        )
        if await store_call(call, failures) is None:
            return []
        self._parts.recorder.progress(len(failures))
        return retry
