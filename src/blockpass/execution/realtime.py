"""Realtime execution: packs to provider calls, with every block accounted for.

Work goes in rounds. Each round packs the blocks still to do and runs the packs with bounded,
adaptive concurrency; whatever comes back without a result is queued for the next round.
What an answer means (kept results, re-packing, failures) is ``packwork.py``'s.

- The first call of a run goes alone, so its cache write exists before the fan-out (parallel
  first calls all miss and all write).
- Transient errors (429, 529, 5xx, dropped connections) are retried with backoff, honouring
  ``retry-after``; throttling halves the concurrency, and successes grow it back by one per
  window. Rate-limit headers that show a bucket too empty for the next call make it wait
  for the bucket's reset.
- A provider that cannot be connected to at all before its first answer ends the run at
  once (a wrong address, not a blip); a connection lost later is retried like any other.
- Each call is stored as started before it is sent, and then together with the results it
  produced, in one transaction. A crash leaves the calls in flight as starts without an
  answer, which the report prices at their upper bound; a Ctrl-C first stores every call
  already answered.
- A pack's blocks are leased before it is sent (``block_leases.py``), so an outside agent
  working on the same run (``blockpass mcp serve``) never gets them meanwhile; blocks an
  agent holds are left to it, and waited for once nothing else is left: done when it
  submits them, sent when its lease ends without their results.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio

from blockpass.blocks import Block
from blockpass.errors import (
    ProviderRejected,
    ProviderUnreachable,
    RateLimited,
    TransientProviderError,
)
from blockpass.execution.block_leases import BlockLeases, run_worker
from blockpass.execution.clock import SYSTEM_CLOCK, Clock
from blockpass.execution.packwork import ExecutionParts, ExecutionSettings, ExecutionStats
from blockpass.execution.tool_turns import OpenCall, ToolLoop, send_through_tools
from blockpass.mcp_bridge.loop import LoopEnd
from blockpass.packing import Pack
from blockpass.providers.base import (
    ModelRequest,
    ModelResponse,
    Provider,
    RateLimitBucket,
    RateLimitState,
)

__all__ = ["AdaptiveLimit", "ExecutionSettings", "ExecutionStats", "RealtimeExecutor"]


@dataclass(slots=True)
class AdaptiveLimit:
    """Concurrency that halves when the provider pushes back and creeps up when it doesn't."""

    ceiling: int
    limit: int = 0
    in_use: int = 0
    successes: int = 0
    _changed: anyio.Condition = field(default_factory=anyio.Condition)

    def __post_init__(self) -> None:
        self.limit = self.ceiling

    async def acquire(self) -> None:
        async with self._changed:
            while self.in_use >= self.limit:
                await self._changed.wait()
            self.in_use += 1

    async def release(self) -> None:
        async with self._changed:
            self.in_use -= 1
            self._changed.notify_all()

    def throttled(self) -> None:
        self.limit = max(1, self.limit // 2)
        self.successes = 0

    def succeeded(self) -> None:
        self.successes += 1
        if self.successes >= self.limit and self.limit < self.ceiling:
            self.limit += 1
            self.successes = 0


class RealtimeExecutor:
    def __init__(
        self,
        *,
        provider: Provider,
        parts: ExecutionParts,
        clock: Clock = SYSTEM_CLOCK,
        tools: ToolLoop | None = None,
    ) -> None:
        """``tools``: each pack goes through a tool loop with them (``tool_turns.py``)."""
        self._provider = provider
        self._tools = tools
        self._clock = clock
        self._parts = parts
        self._settings = parts.settings
        self._limit = AdaptiveLimit(ceiling=max(1, parts.settings.concurrency))
        self._rate_limits: RateLimitState | None = None
        self._warm = False
        self._leases = BlockLeases(
            parts.store,
            worker=run_worker(),
            seconds=parts.settings.lease_seconds,
            poll_seconds=parts.settings.lease_poll_seconds,
        )

    @property
    def stats(self) -> ExecutionStats:
        return self._parts.stats

    @property
    def leases(self) -> BlockLeases:
        """The run's block leases, which a batch executor falling back to this one shares."""
        return self._leases

    async def run(self, blocks: Sequence[Block]) -> ExecutionStats:
        queue = list(blocks)
        async with self._leases.kept():
            while queue:
                elsewhere = await self._leases.held_elsewhere(queue)
                if len(elsewhere) == len(queue):
                    queue, done = await self._leases.wait_for(queue)
                    self._parts.recorder.progress(done)
                    continue
                waiting = {block.id for block in elsewhere}
                packs = self._parts.planner.plan([b for b in queue if b.id not in waiting])
                queue = elsewhere
                if not self._warm:
                    await self._run_pack_into(packs.pop(0), queue)
                async with anyio.create_task_group() as group:
                    for pack in packs:
                        group.start_soon(self._run_pack_into, pack, queue)
        return self.stats

    async def _run_pack_into(self, pack: Pack, queue: list[Block]) -> None:
        """Lease the pack's blocks and send it; the blocks another worker took meanwhile,
        and those to try again (still leased), go to ``queue``."""
        claimed = await self._leases.claim(pack.blocks)
        queue.extend(claimed.held_elsewhere)
        self._parts.recorder.progress(len(claimed.done_elsewhere))
        if not claimed.leased:
            return
        if len(claimed.leased) < len(pack.blocks):
            pack = self._parts.planner.pack_of(claimed.leased)
        again = await self._run_pack(pack)
        queue.extend(again)
        kept = {block.id for block in again}
        with anyio.CancelScope(shield=True):
            await self._leases.release([block for block in pack.blocks if block.id not in kept])

    async def _run_pack(self, pack: Pack) -> list[Block]:
        """Send one pack, retrying transient errors; return the blocks to try again."""
        request = self._parts.layout.request(
            pack, expected_gap_seconds=self._settings.expected_gap_seconds
        )
        failure: TransientProviderError | None = None
        for attempt in range(self._settings.max_call_retries + 1):
            await self._limit.acquire()
            try:
                outcome = await self._attempt(request, pack, attempt)
            finally:
                await self._limit.release()
            if not isinstance(outcome, TransientProviderError):
                return outcome
            failure = outcome
            delay = failure.retry_after if isinstance(failure, RateLimited) else None
            await self._clock.sleep(delay if delay is not None else self._backoff(attempt))
        return await self._parts.retry_or_fail(
            pack.blocks, f"provider errors: {failure}", smaller=False
        )

    async def _attempt(
        self, request: ModelRequest, pack: Pack, attempt: int
    ) -> list[Block] | TransientProviderError:
        """One call: the blocks to try again once it is stored, or the error to retry after.

        The call is stored as started before it is sent. Once the provider has answered, the
        call is paid for: storing it with its results is shielded from cancellation, so a
        Ctrl-C waits for it instead of dropping an answered call.
        """
        await self._respect_rate_limits(pack)
        current = OpenCall()
        try:
            if self._tools is None:
                current.start_id = await self._parts.recorder.start_call(
                    pack,
                    request,
                    input_tokens=self._parts.layout.input_tokens(request),
                    attempt=attempt,
                )
                current.started = self._clock.now()
                answer: ModelResponse | LoopEnd = await self._provider.complete(request)
            else:
                answer = await send_through_tools(
                    provider=self._provider, parts=self._parts, tools=self._tools,
                    clock=self._clock, pack=pack, request=request, attempt=attempt,
                    current=current,
                )  # fmt: skip
        except TransientProviderError as failure:
            self.stats.transient_errors += 1
            self._limit.throttled()
            with anyio.CancelScope(shield=True):
                await self._record_unanswered(pack, "error", failure, attempt, current)
            if isinstance(failure, ProviderUnreachable) and not self._warm:
                # Never reached in this run: a wrong address or a server that is not up,
                # which retrying for minutes would only hide.
                raise
            return failure
        except ProviderRejected as failure:
            with anyio.CancelScope(shield=True):
                await self._record_unanswered(pack, "rejected", failure, attempt, current)
                retry = await self._parts.retry_or_fail(pack.blocks, str(failure), smaller=False)
            return retry
        with anyio.CancelScope(shield=True):
            self._limit.succeeded()
            self._warm = True
            if isinstance(answer, LoopEnd):
                # Every turn is stored; the blocks go out again, or fail once out of attempts.
                return await self._parts.retry_or_fail(
                    pack.blocks, f"tool loop stopped: {answer.value}", smaller=False
                )
            self.stats.calls += 1
            if answer.rate_limits is not None:
                self._rate_limits = answer.rate_limits
            call = self._parts.recorder.call_record(
                pack, status="ok", started=current.started, attempt=attempt,
                start_id=current.start_id,
            )  # fmt: skip
            retry = await self._parts.take_answer(pack, answer, call)
        return retry

    async def _record_unanswered(
        self,
        pack: Pack,
        status: str,
        failure: Exception,
        attempt: int,
        current: OpenCall,
    ) -> None:
        call = self._parts.recorder.call_record(
            pack, status=status, error=str(failure), started=current.started, attempt=attempt,
            start_id=current.start_id,
        )  # fmt: skip
        await self._parts.recorder.record_unanswered(call)

    async def _respect_rate_limits(self, pack: Pack) -> None:
        state = self._rate_limits
        if state is None:
            return
        prefix = self._parts.layout.prefix_tokens if state.cached_input_counts else 0
        needs = {
            RateLimitBucket.REQUESTS: 1,
            RateLimitBucket.INPUT_TOKENS: prefix + pack.input_tokens,
            RateLimitBucket.OUTPUT_TOKENS: pack.estimated_output,
        }
        waits = [
            state.reset_at[bucket] - self._clock.now()
            for bucket, amount in needs.items()
            if state.remaining.get(bucket, math.inf) < amount and bucket in state.reset_at
        ]
        wait = max(waits, default=0.0)
        if wait > 0:
            await self._clock.sleep(min(wait, self._settings.backoff_cap))

    def _backoff(self, attempt: int) -> float:
        delay = min(self._settings.backoff_cap, self._settings.backoff_base * 2.0**attempt)
        jitter: float = random.uniform(0.75, 1.0)
        return delay * jitter
