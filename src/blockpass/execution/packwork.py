"""What realtime and batch execution share: packs in, requests out, answers settled.

Both modes plan packs the same way, build the same byte-stable requests, and treat an
answer the same way, whether it came back from a call or from a batch result:

- A truncated answer keeps every complete result; the rest is re-packed at half the size.
  Missing ids go back to the queue; malformed output and refusals split the pack.
- A block that has been sent ``max_attempts`` times without a result is recorded as failed,
  with the reason. A block with a stored result is never sent again.
- A call is stored together with the results it produced, in one transaction.
- A realtime call is stored as started before it is sent (``start_call``), with what bounds
  its cost, and its record closes that start: a call that never gets a record is reported
  as interrupted, at its upper bound.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.errors import UserInputError
from blockpass.layout import build_request, choose_ttl, output_cap
from blockpass.packing import (
    OutputEstimator,
    Pack,
    PackLimits,
    block_input_tokens,
    pack_id,
    plan_packs,
)
from blockpass.providers.base import ModelProfile, ModelRequest, ModelResponse, StopReason
from blockpass.results import parse_answer
from blockpass.store import CallRecord, CallStart, RunStore
from blockpass.task import Task
from blockpass.tokens import count_tokens
from blockpass.tooldefs import result_tool, to_chat_completions
from blockpass.usage import Usage

# Stores a call with the results it produced; None when it was stored before (a batch item
# collected twice), and then nothing else of the answer is acted on.
Recorder = Callable[[CallRecord, Sequence[BlockResult]], Awaitable[int | None]]


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
    batches: int = 0
    resubmitted_blocks: int = 0


class PackWork:
    def __init__(
        self,
        *,
        profile: ModelProfile,
        provider_name: str,
        task: Task,
        store: RunStore,
        settings: ExecutionSettings,
        on_progress: Callable[[int], None] = lambda done: None,
        on_call: Callable[[CallRecord], None] = lambda call: None,
        on_settled: Callable[[CallRecord, Sequence[BlockResult]], None] = lambda call, results: (
            None
        ),
        amend: Callable[[BlockResult, Block], BlockResult] = lambda result, block: result,
    ) -> None:
        self.profile = profile
        self.store = store
        self.settings = settings
        self.stats = ExecutionStats()
        self._provider_name = provider_name
        self._task = task
        self._on_progress = on_progress
        self._on_call = on_call
        self._on_settled = on_settled
        self._amend = amend
        self._count: Callable[[str], int] = lambda text: count_tokens(text, profile.tokenizer)
        self._estimator = OutputEstimator()
        self._attempts: dict[str, int] = {}
        self._size_hint: dict[str, int] = {}
        self._cache_key = task.fingerprint(profile.id)
        self.prefix_tokens = self._count(task.system_prefix)
        # Some vendors get the schema as a tool too and bill it beside the prefix that holds
        # it: counted in its most verbose wire form (a Chat Completions tool).
        self._tool_tokens = self._count(json.dumps(to_chat_completions(result_tool(task.schema))))
        input_budget = profile.context_window - self.prefix_tokens - profile.max_output
        if input_budget <= 0:
            raise UserInputError(
                f"the guide and instructions ({self.prefix_tokens:,} tokens) do not fit "
                f"{profile.id}'s context window ({profile.context_window:,} tokens, "
                f"{profile.max_output:,} of them kept for the answer): shorten the guide or "
                "choose a model with a larger context window"
            )
        self._limits = PackLimits(
            input_budget=input_budget,
            output_cap=output_cap(profile),
            min_blocks=settings.min_blocks,
            max_blocks=settings.max_blocks,
        )

    async def admit(self, blocks: Sequence[Block]) -> list[Block]:
        """The blocks that fit in a request beside the prefix; the others are recorded as
        failed with their size, so that one huge block never stops the rest of the run."""
        budget = self._limits.input_budget
        too_large = {
            block.id: tokens
            for block in blocks
            if (tokens := block_input_tokens(block, self._count)) > budget
        }
        if not too_large:
            return list(blocks)
        self.stats.failed_blocks += len(too_large)
        await self.store.record_results(
            [
                _failed(
                    block,
                    f"block too large for {self.profile.id}'s context window: "
                    f"{too_large[block.id]:,} tokens, at most {budget:,} fit beside the "
                    "instructions and guide; split it in the source document",
                )
                for block in blocks
                if block.id in too_large
            ]
        )
        self._on_progress(len(too_large))
        return [block for block in blocks if block.id not in too_large]

    def attempts(self, block: Block) -> int:
        return self._attempts.get(block.id, 0)

    def plan(self, blocks: Sequence[Block], *, max_blocks: int | None = None) -> list[Pack]:
        """Packs at full size, except blocks that were in a truncated or broken pack.

        ``max_blocks`` overrides the settings' bound (batch mode packs more per request).
        """
        full = max_blocks or self._limits.max_blocks
        by_size: dict[int, list[Block]] = {}
        for block in blocks:
            size = self._size_hint.get(block.id, full)
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

    def pack_of(self, blocks: Sequence[Block]) -> Pack:
        """The pack of these blocks in this order, as ``plan`` would have made it."""
        return Pack(
            id=pack_id(blocks),
            blocks=tuple(blocks),
            input_tokens=sum(block_input_tokens(block, self._count) for block in blocks),
            estimated_output=sum(self._estimator.estimate(block) for block in blocks),
        )

    def request(self, pack: Pack, *, expected_gap_seconds: float) -> ModelRequest:
        ttl = choose_ttl(
            prefix_tokens=self.prefix_tokens,
            min_cacheable=self.profile.min_cacheable,
            expected_gap_seconds=expected_gap_seconds,
        )
        return build_request(self._task, pack, self.profile, ttl, cache_key=self._cache_key)

    async def settle(
        self, pack: Pack, response: ModelResponse, call: CallRecord, record: Recorder | None = None
    ) -> list[Block]:
        """Store an answer and the results it holds; return the blocks to send again.

        ``call`` describes the call; its status is decided here from the answer.
        """
        parsed = parse_answer(response.text, pack.short_ids)
        status = self._status(response, parsed.complete)
        call = replace(call, status=status, usage=response.usage)
        by_id = {block.id: block for block in pack.blocks}
        results = [
            self._amend(result, by_id[result.block_id]) for result in parsed.results.values()
        ]
        if await (record or self._record_call)(call, results) is None:
            return []
        self._on_call(call)
        self._on_settled(call, results)
        self._learn(pack, parsed.results)
        self.stats.unknown_ids += parsed.unknown_ids
        self.stats.duplicate_ids += parsed.duplicate_ids
        self.stats.invalid_items += parsed.invalid_items
        self.stats.rejected_edits += parsed.rejected_edits
        self._on_progress(len(parsed.results))
        if not parsed.missing:
            return []
        if status == "refused" and len(pack.blocks) == 1:
            return await self.give_back(
                parsed.missing, "refused by the model", split=True, final=True
            )
        self.stats.missing_ids += len(parsed.missing) if status == "ok" else 0
        reason = {"ok": "no result for its id"}.get(status, f"answer {status}")
        return await self.give_back(parsed.missing, reason, split=status != "ok")

    async def _record_call(self, call: CallRecord, results: Sequence[BlockResult]) -> int:
        return await self.store.record_call(call, results)

    def _status(self, response: ModelResponse, complete: bool) -> str:
        if response.stop_reason.truncated:
            self.stats.truncated += 1
            return "truncated"
        if response.stop_reason is StopReason.REFUSAL:
            self.stats.refused += 1
            return "refused"
        if not complete:
            self.stats.malformed += 1
            return "malformed"
        return "ok"

    def failures(self, blocks: Sequence[Block], reason: str) -> list[BlockResult]:
        """Failed results for blocks that will not be sent again, counted."""
        self.stats.failed_blocks += len(blocks)
        return [
            _failed(block, f"{reason} (after {self._attempts.get(block.id, 0)} attempts)")
            for block in blocks
        ]

    def count_attempt(
        self, blocks: Sequence[Block], *, split: bool
    ) -> tuple[list[Block], list[Block]]:
        """One more attempt for each block: (blocks to try again, blocks out of attempts)."""
        retry: list[Block] = []
        spent: list[Block] = []
        for block in blocks:
            self._attempts[block.id] = attempts = self._attempts.get(block.id, 0) + 1
            if attempts >= self.settings.max_attempts:
                spent.append(block)
                continue
            if split:
                current = self._size_hint.get(block.id, self._limits.max_blocks)
                self._size_hint[block.id] = max(1, min(current, len(blocks)) // 2)
            retry.append(block)
        return retry, spent

    async def give_back(
        self, blocks: Sequence[Block], reason: str, *, split: bool, final: bool = False
    ) -> list[Block]:
        """Count an attempt; record blocks out of attempts as failed; return the others."""
        retry, spent = self.count_attempt(blocks, split=split)
        if final:
            retry, spent = [], [*retry, *spent]
        if spent:
            await self.store.record_results(self.failures(spent, reason))
            self._on_progress(len(spent))
        return retry

    def progress(self, done: int) -> None:
        self._on_progress(done)

    async def start_call(self, pack: Pack, request: ModelRequest, *, attempt: int) -> int:
        """Store a call about to be sent; its id goes into the call's record."""
        return await self.store.start_call(
            CallStart(
                pack_id=pack.id,
                provider=self._provider_name,
                model=self.profile.id,
                block_ids=tuple(block.id for block in pack.blocks),
                attempt=attempt,
                input_tokens=self.request_tokens(request),
                max_output=request.max_tokens,
                cache_ttl="" if request.cache_ttl is None else request.cache_ttl.value,
                started_at=time.time(),
            )
        )

    def request_tokens(self, request: ModelRequest) -> int:
        """The request's input as this run counts tokens: prefix, pack and result tool."""
        return self.prefix_tokens + self._count(request.user) + self._tool_tokens

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
            model=self.profile.id,
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

    def _learn(self, pack: Pack, results: dict[str, BlockResult]) -> None:
        for block in pack.blocks:
            result = results.get(block.id)
            if result is not None:
                self._estimator.observe(block.kind, self._count(_result_json(result)))


def _failed(block: Block, reason: str) -> BlockResult:
    return BlockResult(
        block_id=block.id, content_hash=block.content_hash, outcome=Outcome.FAILED, reason=reason
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
