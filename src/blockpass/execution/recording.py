"""What a run stores about its calls and blocks, and whom it tells.

- A realtime call is stored as started before it is sent (``start_call``), with what bounds
  its cost, and its record closes that start: a call that never gets a record is reported
  as interrupted, at its upper bound.
- A call is stored together with the results it produced, in one transaction; only then do
  the callbacks hear of it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from blockpass.blocks import BlockResult
from blockpass.packing import Pack
from blockpass.providers.base import ModelRequest
from blockpass.store import CallRecord, CallStart, RunStore
from blockpass.usage import Usage

__all__ = ["CallRecorder", "StoreCall"]

# Stores a call with the results it produced; None when it was stored before (a batch item
# collected twice), and then nothing else of the answer is acted on.
StoreCall = Callable[[CallRecord, Sequence[BlockResult]], Awaitable[int | None]]


class CallRecorder:
    def __init__(
        self,
        *,
        store: RunStore,
        provider_name: str,
        model: str,
        lane: str,
        on_progress: Callable[[int], None] = lambda done: None,
        on_call: Callable[[CallRecord], None] = lambda call: None,
        on_answered: Callable[[CallRecord, Sequence[BlockResult]], None] = lambda call, results: (
            None
        ),
    ) -> None:
        self.store = store
        self._provider_name = provider_name
        self._model = model
        self._lane = lane
        self._on_progress = on_progress
        self._on_call = on_call
        self._on_answered = on_answered

    async def start_call(
        self, pack: Pack, request: ModelRequest, *, input_tokens: int, attempt: int
    ) -> int:
        """Store a call about to be sent; its id goes into the call's record."""
        return await self.store.start_call(
            CallStart(
                pack_id=pack.id,
                provider=self._provider_name,
                model=self._model,
                block_ids=tuple(block.id for block in pack.blocks),
                attempt=attempt,
                input_tokens=input_tokens,
                max_output=request.max_tokens,
                cache_ttl="" if request.cache_ttl is None else request.cache_ttl.value,
                started_at=time.time(),
            )
        )

    def call_record(
        self,
        pack: Pack,
        *,
        status: str,
        started: float,
        batch: bool = False,
        usage: Usage | None = None,
        error: str = "",
        attempt: int = 0,
        start_id: int | None = None,
    ) -> CallRecord:
        return CallRecord(
            id=None,
            pack_id=pack.id,
            provider=self._provider_name,
            model=self._model,
            block_ids=tuple(block.id for block in pack.blocks),
            usage=usage or Usage(),
            batch=batch,
            status=status,
            error=error,
            attempt=attempt,
            started_at=started,
            finished_at=time.time(),
            start_id=start_id,
        )

    async def record_unanswered(self, call: CallRecord) -> None:
        """A call that produced no answer: an error, or a request the provider rejected."""
        await self.store.record_call(call, [])

    async def record_answer(
        self, call: CallRecord, results: Sequence[BlockResult], store_call: StoreCall | None = None
    ) -> bool:
        """Store an answered call with its results and tell the callbacks; False (and
        nothing told) when ``store_call`` finds it stored before."""
        results = self._of_lane(results)
        if await (store_call or self.store.record_call)(call, results) is None:
            return False
        self._on_call(call)
        self._on_answered(call, results)
        return True

    async def record_results(self, results: Sequence[BlockResult]) -> None:
        """Results that end blocks without a call (failures), counted as progress."""
        await self.store.record_results(self._of_lane(results))
        self.progress(len(results))

    def _of_lane(self, results: Sequence[BlockResult]) -> list[BlockResult]:
        return [replace(result, lane=self._lane) for result in results]

    def progress(self, done: int) -> None:
        self._on_progress(done)
