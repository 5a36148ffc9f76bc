"""A run's cost report, rebuilt from its store alone, for runs of one lane or several.

Each call is priced by its own model; its blocks' one-call-per-block baseline is counted with
that model's tokenizer and prefix, so a run that routed blocks to two models compares each
block with the model that answered it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.ledger import WHAT_IF_MODEL, CostReport, InterruptedCall, Ledger, LedgerCall, WhatIf
from blockpass.packing import block_input_tokens
from blockpass.prices import PriceTable
from blockpass.providers.base import ModelProfile
from blockpass.store import CallRecord, CallStart
from blockpass.task import Task
from blockpass.tokens import count_tokens

__all__ = ["PromptTokens", "cost_report", "what_if"]


@dataclass(frozen=True, slots=True)
class PromptTokens:
    """How one model counts a run's prompts: the full-guide prefix and each block alone."""

    count: Callable[[str], int]
    prefix: int

    @classmethod
    def of(cls, profile: ModelProfile, task: Task) -> PromptTokens:
        count = partial(count_tokens, family=profile.tokenizer)
        return cls(count=count, prefix=count(task.system_prefix))

    def block(self, block: Block) -> int:
        return block_input_tokens(block, self.count)


def cost_report(
    calls: Sequence[CallRecord],
    results: dict[str, BlockResult],
    blocks: Sequence[Block],
    task: Task,
    profiles: Sequence[ModelProfile],
    prices: PriceTable,
    served_by: str,
    *,
    interrupted: Sequence[CallStart] = (),
) -> CostReport:
    """The report of every call the run paid for.

    ``profiles``: the run's models, the first one standing in for a call of a model the run
    no longer has. ``interrupted``: calls stored as started that no record closed (the
    process died or was interrupted while they were in flight), priced at their upper bound.
    """
    tokens = {profile.id: PromptTokens.of(profile, task) for profile in reversed(profiles)}
    default = tokens[profiles[0].id]
    by_id = {block.id: block for block in blocks}
    produced: dict[int, list[str]] = defaultdict(list)
    for result in results.values():
        if result.call_id is not None and result.outcome is Outcome.RESULT:
            produced[result.call_id].append(result.block_id)
    ledger = Ledger(prices, prefix_tokens=default.prefix, served_by=served_by)
    for call in calls:
        counted = tokens.get(call.model, default)
        answered = produced.get(call.id, []) if call.id is not None else []
        ledger.record(
            LedgerCall(
                model=call.model,
                usage=call.usage,
                batch=call.batch,
                status=call.status,
                resubmission=call.batch and call.attempt > 1,
                results={block_id: counted.block(by_id[block_id]) for block_id in answered},
                prefix_tokens=counted.prefix,
            )
        )
    for start in interrupted:
        ledger.record_interrupted(
            InterruptedCall(
                model=start.model,
                input_tokens=start.input_tokens,
                max_output=start.max_output,
                cache_ttl=start.cache_ttl,
                pack_id=start.pack_id,
                attempt=start.attempt,
            )
        )
    return ledger.report()


def what_if(
    report_for: Callable[[PriceTable], CostReport],
    report: CostReport,
    profiles: Sequence[ModelProfile],
    prices: PriceTable,
) -> WhatIf | None:
    """For a run nobody billed (a local model), what the same usage costs when billed."""
    if not report.calls or report.at_most != 0:
        return None
    card = prices.for_model(WHAT_IF_MODEL)
    priced = prices
    for profile in profiles:
        priced = priced.pricing(profile.id, card, f"what-if as {WHAT_IF_MODEL}")
    return WhatIf(model=WHAT_IF_MODEL, report=report_for(priced))
