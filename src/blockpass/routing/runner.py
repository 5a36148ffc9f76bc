"""A routed job: each block to its tier's lane, doubtful weak answers again on the strongest.

Escalation: after the tiers have answered, a block answered by a weaker tier goes again to the
strongest when its answer
  - failed (validation: no usable answer after the retries),
  - has edits that do not apply (``rejected_edits``), or
  - is unsure: a note that says so (``UNSURE_MARK`` at its start, as the task asks a model
    to write when it suspects a problem it cannot settle).
Its weak result is replaced by a failure whose reason says why it was escalated (the weak
call stays in the ledger, paid for), and a second pass over the same store sends exactly
those blocks to the strongest lane. ``routing.json`` in the run directory holds the tier
report (``routing/report.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TypedDict

import anyio

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.estimate import estimate_job
from blockpass.job_outcome import JobOutcome
from blockpass.pipeline import JobSpec, read_job_inputs, run_job
from blockpass.prices import PriceTable
from blockpass.progress import Spend
from blockpass.providers import Provider
from blockpass.providers.base import ModelProfile
from blockpass.routing.classify import Classified, classify_blocks
from blockpass.routing.economics import TierCosts, worth_asking
from blockpass.routing.report import TierReport, tier_report
from blockpass.routing.tiers import RouteMode, Routes, heuristic_routes, routed_lanes
from blockpass.store import CallRecord, RunStore, open_run_store
from blockpass.task import Task

__all__ = [
    "ESCALATED",
    "UNSURE_MARK",
    "JobListeners",
    "RoutedOutcome",
    "classify_routes",
    "doubtful_results",
    "escalate_doubtful",
    "escalation_reason",
    "run_routed",
]

UNSURE_MARK = "unsure:"
ESCALATED = "escalated to the strongest tier"
ROUTING_FILE = "routing.json"


class _Callbacks(TypedDict):
    on_start: Callable[[int, int], None]
    on_progress: Callable[[int], None]
    on_call: Callable[[CallRecord], None]
    on_spend: Callable[[Spend], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class JobListeners:
    """``run_job``'s callbacks, for both passes of a routed run."""

    on_start: Callable[[int, int], None] = lambda total, done: None
    on_progress: Callable[[int], None] = lambda done: None
    on_call: Callable[[CallRecord], None] = lambda call: None
    on_spend: Callable[[Spend], None] = lambda spend: None

    def as_arguments(self) -> _Callbacks:
        return _Callbacks(
            on_start=self.on_start,
            on_progress=self.on_progress,
            on_call=self.on_call,
            on_spend=self.on_spend,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutedOutcome:
    outcome: JobOutcome
    routes: Routes
    report: TierReport


def escalation_reason(result: BlockResult) -> str | None:
    """Why a weak tier's result goes to the strongest tier, None when it stands."""
    if result.outcome is Outcome.FAILED:
        return f"failed: {result.reason}"
    if result.rejected_edits:
        return f"{len(result.rejected_edits)} edits do not apply"
    if any(note.strip().lower().startswith(UNSURE_MARK) for note in result.notes):
        return "the answer is unsure"
    return None


async def run_routed(
    spec: JobSpec,
    providers: Sequence[Provider],
    prices: PriceTable,
    *,
    mode: RouteMode = RouteMode.HEURISTIC,
    store: RunStore | None = None,
    listeners: JobListeners | None = None,
    choose: Callable[[Routes], Mapping[str, int]] | None = None,
    classifier: Provider | None = None,
) -> RoutedOutcome:
    """Run ``spec`` over the tiers' providers (weakest first), routed by the heuristic or by
    a classify pass on the weakest over the blocks the heuristic leaves unsettled and whose
    answer can pay for itself (``economics.py``), with escalation; ``listeners`` hear of
    every pass as ``run_job``'s callbacks do. ``choose``, given the heuristic's routes,
    names every block's tier instead (another router to compare with, a random one in
    ``bench/routing.py``). ``classifier``: the provider of the classify pass (default: the
    weakest tier's), a cheaper model than any tier when the pass costs too much."""
    heard = listeners or JobListeners()
    if store is None:
        async with open_run_store(spec.out_dir) as own:
            return await run_routed(
                spec, providers, prices, mode=mode, store=own, listeners=heard, choose=choose,
                classifier=classifier,
            )  # fmt: skip
    inputs, blocks, task, check = read_job_inputs(spec)
    routes = heuristic_routes(inputs, blocks, check, len(providers), spec.prefilter)
    classified = None
    not_asked = 0
    if choose is not None:
        routes = replace(routes, tier_of=dict(choose(routes)))
    elif mode is RouteMode.CLASSIFY:
        classified, not_asked = await classify_routes(
            routes, blocks, task, store, [provider.profile for provider in providers], prices,
            max_blocks=spec.execution.max_blocks, classifier=classifier or providers[0],
        )  # fmt: skip
        routes = replace(routes, tier_of={**routes.tier_of, **classified.tier_of})
    lanes = routed_lanes(providers, routes.tier_of)
    outcome = await run_job(spec, lanes, prices, store=store, **heard.as_arguments())
    for call in classified.calls if classified else ():
        # Recorded once the run is open in the store (a run interrupted before this point
        # classifies again: those calls were paid for and are not in the ledger).
        await store.record_call(call, [])
    escalated = await escalate_doubtful(store, {block.id for block in blocks}, lanes.lanes[-1].name)
    # A second pass sends the escalated blocks; after a classify pass it also writes the
    # run's outputs again, its report now holding the classify calls recorded above.
    if escalated or (classified and classified.calls):
        strongest = len(providers) - 1
        escalated_tier = dict.fromkeys(escalated, strongest)
        lanes = routed_lanes(providers, {**routes.tier_of, **escalated_tier})
        outcome = await run_job(spec, lanes, prices, store=store, **heard.as_arguments())
    answered = {
        result.block_id
        for result in (await store.results()).values()
        if result.call_id is not None and result.outcome is Outcome.RESULT
    }
    strong = partial(estimate_job, spec, lanes.lanes[-1].profile, prices, only=answered)
    all_strong = (await anyio.to_thread.run_sync(strong)).rows[-1].cost.total
    report = await tier_report(
        store,
        lanes.lanes,
        task,
        prices,
        escalated=escalated,
        all_strong=all_strong,
        unanswered=classified.unanswered if classified else 0,
        asked=len(classified.tier_of) if classified else 0,
        not_asked=not_asked,
    )
    (spec.out_dir / ROUTING_FILE).write_text(
        json.dumps(report.to_json(routes), indent=2) + "\n", encoding="utf-8"
    )
    return RoutedOutcome(outcome=outcome, routes=routes, report=report)


async def classify_routes(
    routes: Routes,
    blocks: Sequence[Block],
    task: Task,
    store: RunStore,
    profiles: Sequence[ModelProfile],
    prices: PriceTable,
    *,
    max_blocks: int | None,
    classifier: Provider,
) -> tuple[Classified, int]:
    """The classify pass on ``classifier`` over the blocks the heuristic leaves unsettled,
    have no result yet (a resumed run's others are paid for) and whose answer can pay for
    itself; what it placed, and how many unsettled blocks it was not asked about."""
    done = {
        block_id
        for block_id, result in (await store.results()).items()
        if result.outcome is not Outcome.FAILED
    }
    by_id = {block.id: block for block in blocks}
    unsettled = [
        block_id
        for block_id in routes.tier_of
        if block_id not in done and not routes.features[block_id].settled(len(profiles))
    ]
    costs = TierCosts.of(
        [by_id[block_id] for block_id in unsettled],
        profiles,
        prices,
        task,
        max_blocks=max_blocks,
        classifier=classifier.profile,
    )
    undecided = [by_id[block_id] for block_id in unsettled if worth_asking(block_id, costs)]
    names = [profile.id for profile in profiles]
    return await classify_blocks(classifier, undecided, names), len(unsettled) - len(undecided)


async def escalate_doubtful(store: RunStore, blocks: set[str], strongest: str) -> dict[str, str]:
    """Mark the weak tiers' doubtful results as failed (escalated); their ids and reasons."""
    escalated, marked = doubtful_results(await store.results(), blocks, strongest)
    await store.withdraw_results(marked)
    return escalated


def doubtful_results(
    results: Mapping[str, BlockResult], blocks: set[str], strongest: str
) -> tuple[dict[str, str], list[BlockResult]]:
    """The weak tiers' doubtful results among ``blocks``: their ids with the reason, and the
    failures (escalated) that replace them."""
    escalated: dict[str, str] = {}
    marked: list[BlockResult] = []
    for result in results.values():
        if result.block_id not in blocks or result.lane in ("", strongest):
            continue
        if (reason := escalation_reason(result)) is not None:
            escalated[result.block_id] = reason
            marked.append(
                BlockResult(
                    block_id=result.block_id,
                    content_hash=result.content_hash,
                    outcome=Outcome.FAILED,
                    reason=f"{ESCALATED}: {reason}",
                    call_id=result.call_id,
                    lane=result.lane,
                )
            )
    return escalated, marked
