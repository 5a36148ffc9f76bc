"""What realtime and batch execution share: the pieces that turn packs into requests and
answers into stored results, composed once per run.

Both modes plan packs the same way (``planning.py``), build the same byte-stable requests
(``requests.py``), and treat an answer the same way whether it came back from a call or from
a batch result (``answers.py``, ``retries.py``, ``recording.py``):

- A truncated answer keeps every complete result; the rest is re-packed at half the size.
  Missing ids go back to the queue; malformed output and refusals split the pack.
- A block that has been sent ``max_attempts`` times without a result is recorded as failed,
  with the reason. A block with a stored result is never sent again.
- A call is stored together with the results it produced, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from blockpass.blocks import Block, BlockResult
from blockpass.context import RetrievedRules
from blockpass.deterministic import Findings
from blockpass.execution.answers import answer_status, send_again
from blockpass.execution.planning import PackPlanner
from blockpass.execution.recording import CallRecorder, StoreCall
from blockpass.execution.requests import RequestLayout
from blockpass.execution.retries import RetryPolicy, failed_result
from blockpass.execution.stats import ExecutionStats
from blockpass.lanes import lane_name
from blockpass.packing import Pack
from blockpass.providers.base import ModelProfile, ModelResponse
from blockpass.results import parse_answer
from blockpass.store import CallRecord, RunStore
from blockpass.task import Task
from blockpass.tokens import count_tokens
from blockpass.verdicts import OUTPUT_SCALE, RuleCodes

__all__ = ["ExecutionParts", "ExecutionSettings", "ExecutionStats"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionSettings:
    # Calls in flight while the provider has stated no rate limits (and for one that never
    # does); once it has, its limits decide, up to ``max_concurrency``.
    concurrency: int = 8
    max_concurrency: int = 256
    max_attempts: int = 4
    max_call_retries: int = 8
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    min_blocks: int = 10
    # None: the model profile's measured bound (providers/pack_bounds.toml), else 40.
    max_blocks: int | None = None
    expected_gap_seconds: float = 0.0
    # A block sent is leased meanwhile (``block_leases.py``), renewed while the run lives;
    # a block leased by another worker is looked at again every ``lease_poll_seconds``.
    lease_seconds: float = 120.0
    lease_poll_seconds: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutionParts:
    """One run's pieces, shared by its executors (a batch run falls back to realtime with the
    same attempts, pack sizes and stats), and the two flows that cross them."""

    settings: ExecutionSettings
    stats: ExecutionStats
    planner: PackPlanner
    layout: RequestLayout
    retries: RetryPolicy
    recorder: CallRecorder
    add_findings: Callable[[BlockResult, Block], BlockResult]
    # The lane these parts serve: what the planner learns is stored under its name, and
    # its results carry it.
    lane: str
    store: RunStore
    # What compact answers cite rules by; None for the full format.
    codes: RuleCodes | None = None

    @classmethod
    def build(
        cls,
        *,
        profile: ModelProfile,
        provider_name: str,
        task: Task,
        store: RunStore,
        settings: ExecutionSettings,
        on_progress: Callable[[int], None] = lambda done: None,
        on_call: Callable[[CallRecord], None] = lambda call: None,
        on_answered: Callable[[CallRecord, Sequence[BlockResult]], None] = lambda call, results: (
            None
        ),
        add_findings: Callable[[BlockResult, Block], BlockResult] = lambda result, block: result,
        retrieved: RetrievedRules | None = None,
        findings: Mapping[str, Findings] | None = None,
    ) -> ExecutionParts:
        """``add_findings`` completes a model's result for a block (the rule engine's own);
        ``retrieved``: the rules each pack carries in retrieve mode; ``findings``: the rule
        engine's, by block id, for the planner (``PackPlanner.know``)."""
        stats = ExecutionStats()

        def count(text: str) -> int:
            return count_tokens(text, profile.tokenizer)

        layout = RequestLayout(task=task, profile=profile, count=count)
        lane = lane_name(provider_name, profile)
        codes = task.rule_codes
        planner = PackPlanner(
            profile=profile,
            prefix_tokens=layout.prefix_tokens,
            min_blocks=settings.min_blocks,
            max_blocks=settings.max_blocks,
            count=count,
            contexts=None if retrieved is None else retrieved.contexts(count),
            codes=codes,
            output_scale=OUTPUT_SCALE[task.verdicts],
        )
        planner.know(findings or {})
        return cls(
            settings=settings,
            stats=stats,
            planner=planner,
            layout=layout,
            retries=RetryPolicy(max_attempts=settings.max_attempts, stats=stats),
            recorder=CallRecorder(
                store=store,
                provider_name=provider_name,
                model=profile.id,
                lane=lane,
                on_progress=on_progress,
                on_call=on_call,
                on_answered=on_answered,
            ),
            add_findings=add_findings,
            lane=lane,
            store=store,
            codes=codes,
        )

    async def resume_lane(self) -> None:
        """Plan from the pack sizes and output estimates the lane stored before."""
        self.planner.resume(
            await self.store.pack_sizes(self.lane), await self.store.output_estimates(self.lane)
        )

    async def keep_fitting(self, blocks: Sequence[Block]) -> list[Block]:
        """The blocks that fit in a request beside the prefix; the others are recorded as
        failed with their size, so that one huge block never stops the rest of the run."""
        too_large = self.planner.too_large(blocks)
        if not too_large:
            return list(blocks)
        self.stats.failed_blocks += len(too_large)
        budget = self.planner.limits.input_budget
        model = self.layout.profile.id
        await self.recorder.record_results(
            [
                failed_result(
                    block,
                    f"block too large for {model}'s context window: "
                    f"{too_large[block.id]:,} tokens, at most {budget:,} fit beside the "
                    "instructions and guide; split it in the source document",
                )
                for block in blocks
                if block.id in too_large
            ]
        )
        return [block for block in blocks if block.id not in too_large]

    async def take_answer(
        self,
        pack: Pack,
        response: ModelResponse,
        call: CallRecord,
        store_call: StoreCall | None = None,
    ) -> list[Block]:
        """Store an answer and the results it holds; return the blocks to send again.

        ``call`` describes the call; its status is decided here from the answer.
        """
        proposed = pack.proposals_by_short_id
        parsed = parse_answer(response.text, pack.short_ids, self.codes, proposed)
        status = answer_status(response, complete=parsed.complete)
        self.stats.count_status(status)
        call = replace(call, status=status, usage=response.usage)
        by_id = {block.id: block for block in pack.blocks}
        results = [
            self.add_findings(result, by_id[result.block_id]) for result in parsed.results.values()
        ]
        proposals_of = {pack.short_ids[short_id].id: each for short_id, each in proposed.items()}
        for result in results:
            self.stats.count_proposals(proposals_of.get(result.block_id, ()), result)
        if not await self.recorder.record_answer(call, results, store_call):
            return []
        measured = response.usage.output if status == "ok" else None
        self.planner.learn(pack, parsed.results, measured)
        if parsed.results:
            await self.store.save_output_estimates(self.lane, self.planner.output_estimates())
        self.stats.count_items(parsed)
        self.recorder.progress(len(parsed.results))
        again = send_again(status, parsed.missing, pack_size=len(pack.blocks))
        if again is None:
            return []
        if status == "ok":
            self.stats.missing_ids += len(again.blocks)
        return await self.retry_or_fail(
            again.blocks, again.reason, smaller=again.smaller, fail_now=again.fail_now
        )

    async def retry_or_fail(
        self, blocks: Sequence[Block], reason: str, *, smaller: bool, fail_now: bool = False
    ) -> list[Block]:
        """Count an attempt; record blocks out of attempts (or all, ``fail_now``) as failed
        with ``reason``; return the others, in smaller packs next time if ``smaller``."""
        retry, spent = self.retries.count_attempt(blocks)
        if smaller:
            self.planner.shrink(retry, came_back_with=len(blocks))
            if retry:
                await self.store.limit_pack_sizes(self.lane, self.planner.pack_sizes(retry))
        if fail_now:
            retry, spent = [], [*retry, *spent]
        if spent:
            await self.recorder.record_results(self.retries.failed(spent, reason))
        return retry
