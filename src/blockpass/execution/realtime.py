"""Realtime execution: packs to provider calls, with every block accounted for.

Work goes in rounds. Each round packs the blocks still to do and runs the packs with bounded,
adaptive concurrency; whatever comes back without a result is queued for the next round.

- The first call of a run goes alone, so its cache write exists before the fan-out (parallel
  first calls all miss and all write).
- Transient errors (429, 529, 5xx, dropped connections) are retried with backoff, honouring
  ``retry-after``; throttling halves the concurrency, and successes grow it back by one per
  window. Rate-limit headers that show a bucket too empty for the next call make it wait
  for the bucket's reset.
- A truncated answer keeps every complete result; the rest is re-packed at half the size.
  Missing ids go back to the queue; malformed output and refusals split the pack. A block
  that has been sent ``max_attempts`` times without a result is recorded as failed, with the
  reason. A block with a stored result is never sent again.
- Each call is stored together with the results it produced, in one transaction, so a crash
  can lose at most the calls in flight.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import anyio

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.errors import ProviderRejected, RateLimited, TransientProviderError
from blockpass.layout import build_request, choose_ttl, output_cap
from blockpass.packing import OutputEstimator, Pack, PackLimits, block_input_tokens, plan_packs
from blockpass.providers.base import ModelRequest, ModelResponse, Provider, RateLimitState
from blockpass.results import parse_answer
from blockpass.store import CallRecord, RunStore
from blockpass.task import Task
from blockpass.tokens import count_tokens
from blockpass.usage import Usage


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionSettings:
    concurrency: int = 8
    max_attempts: int = 4
    max_call_retries: int = 8
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    min_blocks: int = 10
    max_blocks: int = 40
    expected_gap_seconds: float = 0.0


@dataclass(slots=True)
class ExecutionStats:
    calls: int = 0
    transient_errors: int = 0
    truncated: int = 0
    malformed: int = 0
    refused: int = 0
    unknown_ids: int = 0
    duplicate_ids: int = 0
    invalid_items: int = 0
    missing_ids: int = 0
    rejected_edits: int = 0
    failed_blocks: int = 0


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
        task: Task,
        store: RunStore,
        settings: ExecutionSettings | None = None,
        on_progress: Callable[[int], None] = lambda done: None,
        on_call: Callable[[CallRecord], None] = lambda call: None,
        amend: Callable[[BlockResult, Block], BlockResult] = lambda result, block: result,
    ) -> None:
        self._provider = provider
        self._task = task
        self._store = store
        self._settings = settings = settings or ExecutionSettings()
        self._on_progress = on_progress
        self._on_call = on_call
        self._amend = amend
        self._profile = provider.profile
        self._count: Callable[[str], int] = lambda text: count_tokens(text, self._profile.tokenizer)
        self._estimator = OutputEstimator()
        self._limit = AdaptiveLimit(ceiling=max(1, settings.concurrency))
        self._attempts: dict[str, int] = {}
        self._size_hint: dict[str, int] = {}
        self._rate_limits: RateLimitState | None = None
        self._warm = False
        self.stats = ExecutionStats()
        self._cache_key = task.fingerprint(self._profile.id)
        prefix_tokens = self._count(task.system_prefix)
        self._ttl = choose_ttl(
            prefix_tokens=prefix_tokens,
            min_cacheable=self._profile.min_cacheable,
            expected_gap_seconds=settings.expected_gap_seconds,
        )
        self._limits = PackLimits(
            input_budget=self._profile.context_window - prefix_tokens - self._profile.max_output,
            output_cap=output_cap(self._profile),
            min_blocks=settings.min_blocks,
            max_blocks=settings.max_blocks,
        )

    async def run(self, blocks: Sequence[Block]) -> ExecutionStats:
        queue = list(blocks)
        while queue:
            packs = self._plan(queue)
            queue = []
            if not self._warm:
                queue += await self._run_pack(packs.pop(0))
            async with anyio.create_task_group() as group:
                for pack in packs:
                    group.start_soon(self._run_pack_into, pack, queue)
        return self.stats

    async def _run_pack_into(self, pack: Pack, queue: list[Block]) -> None:
        queue.extend(await self._run_pack(pack))

    def _plan(self, blocks: list[Block]) -> list[Pack]:
        """Packs at full size, except blocks that were in a truncated or broken pack."""
        by_size: dict[int, list[Block]] = {}
        for block in blocks:
            size = self._size_hint.get(block.id, self._limits.max_blocks)
            by_size.setdefault(size, []).append(block)
        packs: list[Pack] = []
        for size, group in sorted(by_size.items(), reverse=True):
            limits = PackLimits(
                input_budget=self._limits.input_budget,
                output_cap=self._limits.output_cap,
                min_blocks=min(self._limits.min_blocks, size),
                max_blocks=size,
            )
            packs += plan_packs(
                group,
                limits,
                input_tokens=lambda block: block_input_tokens(block, self._count),
                estimate_output=self._estimator.estimate,
            )
        return packs

    async def _run_pack(self, pack: Pack) -> list[Block]:
        """Send one pack; store what came back; return the blocks to try again."""
        request = build_request(
            self._task, pack, self._profile, self._ttl, cache_key=self._cache_key
        )
        started = time.time()
        response, error = await self._call(request, pack)
        if response is None:
            return await self._give_back(pack.blocks, error, split=False)
        self._warm = True
        parsed = parse_answer(response.text, pack.short_ids)
        status = self._status(response, parsed.complete, bool(parsed.missing))
        call = self._call_record(pack, response.usage, status, "", started)
        by_id = {block.id: block for block in pack.blocks}
        results = [
            self._amend(result, by_id[result.block_id]) for result in parsed.results.values()
        ]
        await self._store.record_call(call, results)
        self._on_call(call)
        self._learn(pack, parsed.results)
        self.stats.unknown_ids += parsed.unknown_ids
        self.stats.duplicate_ids += parsed.duplicate_ids
        self.stats.invalid_items += parsed.invalid_items
        self.stats.rejected_edits += parsed.rejected_edits
        self._on_progress(len(parsed.results))
        if not parsed.missing:
            return []
        if status == "refused" and len(pack.blocks) == 1:
            return await self._give_back(
                parsed.missing, "refused by the model", split=True, final=True
            )
        self.stats.missing_ids += len(parsed.missing) if status == "ok" else 0
        reason = {"ok": "no result for its id"}.get(status, f"answer {status}")
        return await self._give_back(parsed.missing, reason, split=status != "ok")

    def _status(self, response: ModelResponse, complete: bool, missing: bool) -> str:
        if response.stop_reason in ("max_tokens", "model_context_window_exceeded"):
            self.stats.truncated += 1
            return "truncated"
        if response.stop_reason == "refusal":
            self.stats.refused += 1
            return "refused"
        if not complete:
            self.stats.malformed += 1
            return "malformed"
        return "ok"

    async def _give_back(
        self, blocks: Sequence[Block], reason: str, *, split: bool, final: bool = False
    ) -> list[Block]:
        retry: list[Block] = []
        failed: list[BlockResult] = []
        for block in blocks:
            self._attempts[block.id] = attempts = self._attempts.get(block.id, 0) + 1
            if final or attempts >= self._settings.max_attempts:
                failed.append(
                    BlockResult(
                        block_id=block.id,
                        content_hash=block.content_hash,
                        outcome=Outcome.FAILED,
                        reason=f"{reason} (after {attempts} attempts)",
                    )
                )
                continue
            if split:
                current = self._size_hint.get(block.id, self._limits.max_blocks)
                self._size_hint[block.id] = max(1, min(current, len(blocks)) // 2)
            retry.append(block)
        if failed:
            self.stats.failed_blocks += len(failed)
            await self._store.record_results(failed)
            self._on_progress(len(failed))
        return retry

    async def _call(self, request: ModelRequest, pack: Pack) -> tuple[ModelResponse | None, str]:
        error = ""
        for attempt in range(self._settings.max_call_retries + 1):
            delay: float | None = None
            await self._limit.acquire()
            started = time.time()
            try:
                await self._respect_rate_limits(pack)
                response = await self._provider.complete(request)
            except TransientProviderError as failure:
                self.stats.transient_errors += 1
                self._limit.throttled()
                error = str(failure)
                delay = failure.retry_after if isinstance(failure, RateLimited) else None
                await self._store.record_call(
                    self._call_record(pack, Usage(), "error", error, started, attempt), []
                )
            except ProviderRejected as failure:
                await self._store.record_call(
                    self._call_record(pack, Usage(), "rejected", str(failure), started, attempt), []
                )
                return None, str(failure)
            else:
                self._limit.succeeded()
                self.stats.calls += 1
                if response.rate_limits is not None:
                    self._rate_limits = response.rate_limits
                return response, ""
            finally:
                await self._limit.release()
            await anyio.sleep(delay if delay is not None else self._backoff(attempt))
        return None, f"provider errors: {error}"

    async def _respect_rate_limits(self, pack: Pack) -> None:
        state = self._rate_limits
        if state is None:
            return
        needs = {
            "requests": 1,
            "input-tokens": pack.input_tokens,
            "output-tokens": pack.estimated_output,
        }
        waits = [
            state.reset_at[bucket] - time.time()
            for bucket, amount in needs.items()
            if state.remaining.get(bucket, math.inf) < amount and bucket in state.reset_at
        ]
        wait = max(waits, default=0.0)
        if wait > 0:
            await anyio.sleep(min(wait, self._settings.backoff_cap))

    def _backoff(self, attempt: int) -> float:
        delay = min(self._settings.backoff_cap, self._settings.backoff_base * 2.0**attempt)
        jitter: float = random.uniform(0.75, 1.0)
        return delay * jitter

    def _learn(self, pack: Pack, results: dict[str, BlockResult]) -> None:
        for block in pack.blocks:
            result = results.get(block.id)
            if result is not None:
                self._estimator.observe(block.kind, self._count(_result_json(result)))

    def _call_record(
        self, pack: Pack, usage: Usage, status: str, error: str, started: float, attempt: int = 0
    ) -> CallRecord:
        return CallRecord(
            id=None,
            pack_id=pack.id,
            provider=self._provider.name,
            model=self._profile.id,
            block_ids=tuple(block.id for block in pack.blocks),
            usage=usage,
            batch=False,
            status=status,
            error=error,
            attempt=attempt,
            started_at=started,
            finished_at=time.time(),
        )


def _result_json(result: BlockResult) -> str:
    """The answer item a result came from, as the model would have written it."""
    item: dict[str, object] = {"id": "b1", "verdict": result.verdict}
    if result.edits or result.verdict == "edit":
        item["edits"] = [
            {"find": e.find, "replace": e.replace, "rule": e.rule} for e in result.edits
        ]
    if result.notes or result.verdict != "ok":
        item["notes"] = list(result.notes)
    return json.dumps(item, separators=(",", ":"))
