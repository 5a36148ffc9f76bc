"""Realtime execution: packs to provider calls, with every block accounted for.

Packs go out as fast as the provider's rate limits allow (``rate_limits.py``), largest
estimated output first so that the last calls of a run are short. Whatever comes back
without a result is packed again as soon as the packs planned before it have gone out, not
at the end of a round. What an answer means (kept results, re-packing, failures) is
``packwork.py``'s.

- The first call of a run goes alone, streamed where the provider can stream, and the
  others follow as soon as its response begins: its cache write exists from then on
  (parallel first calls all miss and all write).
- Transient errors (429, 529, 5xx, dropped connections) are retried with backoff, honouring
  ``retry-after``, which also holds back every other call.
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

import random
from collections.abc import Sequence

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
from blockpass.execution.rate_limits import Admission, CallNeeds, RateLimitScheduler
from blockpass.execution.tool_turns import OpenCall, ToolLoop, send_through_tools
from blockpass.mcp_bridge.loop import LoopEnd
from blockpass.packing import Pack
from blockpass.providers.base import (
    ModelRequest,
    ModelResponse,
    Provider,
    RateLimitState,
    StreamingProvider,
)

__all__ = ["ExecutionSettings", "ExecutionStats", "RealtimeExecutor"]


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
        self._scheduler = RateLimitScheduler(
            clock,
            concurrency=parts.settings.concurrency,
            max_concurrency=parts.settings.max_concurrency,
        )
        # Set once the first call's response has begun (or its pack is done with): from
        # then on the prefix can be read from the cache, and the other calls may go.
        self._prefix_cached = anyio.Event()
        self._warm = False  # an answer has come back in this run
        self._packs_running = 0
        self._pack_done = anyio.Event()
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
        try:
            async with self._leases.kept():
                await self._dispatch(list(blocks))
        except BaseExceptionGroup as group:
            # The first call's own error, as a caller that sent it alone would see it.
            unreachable = group.subgroup(ProviderUnreachable)
            if unreachable is not None and len(group.exceptions) == 1:
                raise unreachable.exceptions[0] from None
            raise
        return self.stats

    async def _dispatch(self, to_pack: list[Block]) -> None:
        """Packs out as the rate limits let them go; the blocks that come back are packed
        again once the packs planned before them have gone out. Blocks another worker
        holds are left to it, and waited for once nothing of this run's is in flight."""
        ready: list[Pack] = []
        async with anyio.create_task_group() as group:
            while True:
                if not ready and to_pack:
                    elsewhere = await self._leases.held_elsewhere(to_pack)
                    if len(elsewhere) == len(to_pack):
                        if self._packs_running:
                            await self._pack_done.wait()
                        else:
                            waited, done = await self._leases.wait_for(list(to_pack))
                            to_pack[:] = waited
                            self._parts.recorder.progress(done)
                        continue
                    waiting = {block.id for block in elsewhere}
                    free = [block for block in to_pack if block.id not in waiting]
                    ready = self._ordered(self._parts.planner.plan(free))
                    to_pack[:] = elsewhere  # the running packs add to this same list
                if not ready:
                    if self._packs_running == 0:
                        break
                    await self._pack_done.wait()
                    continue
                pack = await self._claimed(ready.pop(0), to_pack)
                if pack is None:
                    continue
                request = self._request(pack)
                admission = await self._scheduler.admit(self._needs(pack, request))
                self._packs_running += 1
                group.start_soon(self._run_pack, pack, request, admission, to_pack)
                if not self._prefix_cached.is_set():
                    await self._prefix_cached.wait()

    async def _claimed(self, pack: Pack, to_pack: list[Block]) -> Pack | None:
        """Lease the pack's blocks: the pack of those this run now holds (None: none); the
        blocks another worker took meanwhile go to ``to_pack``."""
        claimed = await self._leases.claim(pack.blocks)
        to_pack.extend(claimed.held_elsewhere)
        self._parts.recorder.progress(len(claimed.done_elsewhere))
        if not claimed.leased:
            return None
        if len(claimed.leased) < len(pack.blocks):
            return self._parts.planner.pack_of(claimed.leased)
        return pack

    def _ordered(self, packs: list[Pack]) -> list[Pack]:
        """Packs by estimated output, largest first: the run's last calls are its shortest.
        Before the first call, the pack that caches the most (the prefix and the shared
        units) goes first, alone: the others read what it writes."""
        ordered = sorted(packs, key=lambda pack: pack.estimated_output, reverse=True)
        if ordered and not self._prefix_cached.is_set():
            writer = max(ordered, key=self._parts.layout.cached_tokens)
            ordered.remove(writer)
            ordered.insert(0, writer)
        return ordered

    def _request(self, pack: Pack) -> ModelRequest:
        return self._parts.layout.request(
            pack, expected_gap_seconds=self._settings.expected_gap_seconds
        )

    def _needs(self, pack: Pack, request: ModelRequest) -> CallNeeds:
        layout = self._parts.layout
        cached = layout.cached_tokens(pack) if self._prefix_cached.is_set() else 0
        return CallNeeds(
            prompt_tokens=layout.input_tokens(request),
            cached_tokens=cached,
            output_reserve=request.max_tokens,
        )

    async def _run_pack(
        self, pack: Pack, request: ModelRequest, admission: Admission, to_pack: list[Block]
    ) -> None:
        """Send one pack, retrying transient errors; its blocks to try again go to
        ``to_pack``."""
        try:
            again = await self._send_pack(pack, request, admission)
            to_pack.extend(again)  # still leased
            kept = {block.id for block in again}
            with anyio.CancelScope(shield=True):
                await self._leases.release([b for b in pack.blocks if b.id not in kept])
        finally:
            self._prefix_cached.set()
            self._packs_running -= 1
            self._pack_done.set()
            self._pack_done = anyio.Event()

    async def _send_pack(
        self, pack: Pack, request: ModelRequest, admission: Admission
    ) -> list[Block]:
        failure: TransientProviderError | None = None
        for attempt in range(self._settings.max_call_retries + 1):
            if attempt:
                admission = await self._scheduler.admit(self._needs(pack, request))
            outcome = await self._attempt(request, pack, attempt, admission)
            if not isinstance(outcome, TransientProviderError):
                return outcome
            failure = outcome
            delay = failure.retry_after if isinstance(failure, RateLimited) else None
            await self._clock.sleep(delay if delay is not None else self._backoff(attempt))
        return await self._parts.retry_or_fail(
            pack.blocks, f"provider errors: {failure}", smaller=False
        )

    async def _attempt(
        self, request: ModelRequest, pack: Pack, attempt: int, admission: Admission
    ) -> list[Block] | TransientProviderError:
        """One call: the blocks to try again once it is stored, or the error to retry after.

        The call is stored as started before it is sent. Once the provider has answered, the
        call is paid for: storing it with its results is shielded from cancellation, so a
        Ctrl-C waits for it instead of dropping an answered call.
        """
        current = OpenCall()
        answer: ModelResponse | LoopEnd | None = None
        refused = False
        try:
            answer = await self._call(request, pack, attempt, admission, current)
        except TransientProviderError as failure:
            self.stats.transient_errors += 1
            refused = isinstance(failure, RateLimited)
            self._scheduler.throttled(
                failure.retry_after if isinstance(failure, RateLimited) else None
            )
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
        finally:
            response = answer if isinstance(answer, ModelResponse) else None
            self._scheduler.release(
                admission,
                usage=None if response is None else response.usage,
                state=None if response is None else response.rate_limits,
                refused=refused,
            )
        with anyio.CancelScope(shield=True):
            self._warm = True
            if isinstance(answer, LoopEnd):
                # Every turn is stored; the blocks go out again, or fail once out of attempts.
                return await self._parts.retry_or_fail(
                    pack.blocks, f"tool loop stopped: {answer.value}", smaller=False
                )
            self.stats.calls += 1
            call = self._parts.recorder.call_record(
                pack, status="ok", started=current.started, attempt=attempt,
                start_id=current.start_id,
            )  # fmt: skip
            retry = await self._parts.take_answer(pack, answer, call)
        return retry

    async def _call(
        self,
        request: ModelRequest,
        pack: Pack,
        attempt: int,
        admission: Admission,
        current: OpenCall,
    ) -> ModelResponse | LoopEnd:
        if self._tools is not None:
            return await send_through_tools(
                provider=self._provider, parts=self._parts, tools=self._tools,
                clock=self._clock, pack=pack, request=request, attempt=attempt,
                current=current,
            )  # fmt: skip
        current.start_id = await self._parts.recorder.start_call(
            pack,
            request,
            input_tokens=self._parts.layout.input_tokens(request),
            attempt=attempt,
        )
        current.started = self._clock.now()
        if self._prefix_cached.is_set() or not isinstance(self._provider, StreamingProvider):
            return await self._provider.complete(request)

        def response_began(limits: RateLimitState | None) -> None:
            self._scheduler.started(admission, limits)
            self._prefix_cached.set()

        return await self._provider.complete_streamed(request, on_start=response_began)

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

    def _backoff(self, attempt: int) -> float:
        delay = min(self._settings.backoff_cap, self._settings.backoff_base * 2.0**attempt)
        jitter: float = random.uniform(0.75, 1.0)
        return delay * jitter
