"""One job end to end: documents in; results, revised documents and a cost report out.

The run directory's store is the source of truth. A job started again on the same directory
skips every block that already has a result or a skip and retries recorded failures, and the
report covers every call the run ever paid for, before and after an interruption.

Outputs in the run directory:
  run.sqlite      the store: blocks, calls with usage, results
  results.jsonl   one line per block: its outcome and verdict, edits, notes or reason
  revised/        every input document with the accepted edits applied
  report.json     cost by token class against the one-call-per-block baseline, and where
                  every block went (skipped by reason, reused, rule engine, sent); under
                  ``possibly_ours``, provider batches that may be the run's but could not be
                  proven so (``execution/ownership.py``), never counted in its costs;
                  under ``skipped_files``, what this invocation's folder walks passed over
"""

from __future__ import annotations

__all__ = ["JobOutcome", "JobSpec", "Mode", "ThisRun", "read_job_inputs", "run_job"]

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path

import anyio

from blockpass.blocks import Block, BlockResult, Outcome
from blockpass.breakdown import Breakdown, breakdown
from blockpass.deterministic import NO_FINDINGS, RuleCheck, engine_result, merge
from blockpass.documents import Inputs, SkippedInputs, read_inputs
from blockpass.errors import UserInputError
from blockpass.execution.batch import BatchSettings
from blockpass.execution.lane_runs import LaneRun, Mode, choose_mode, execute_lane
from blockpass.execution.ownership import possibly_ours
from blockpass.execution.packwork import ExecutionParts, ExecutionSettings, ExecutionStats
from blockpass.files import run_directory_errors
from blockpass.lanes import Lanes
from blockpass.ledger import CostReport, WhatIf
from blockpass.outputs import Timing, write_outputs
from blockpass.prefilter import PrefilterSettings, prefilter
from blockpass.prices import PriceTable
from blockpass.progress import Spend, SpendMeter
from blockpass.providers.base import Provider
from blockpass.reuse import copy_to_duplicates, reuse_stored_results
from blockpass.rules import load_styles
from blockpass.rules.config import read_vale_ini
from blockpass.run_costs import PromptTokens, cost_report, what_if
from blockpass.store import RUN_FILE_NAME, CallRecord, RunStore, StoredBatch, open_run_store
from blockpass.task import Task, load_task


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    inputs: Sequence[Path]
    guide: Path | None
    out_dir: Path
    styles: Sequence[Path] = ()
    # A .vale.ini: which of the rules run on which file, at what level, reading what.
    vale_config: Path | None = None
    apply_fixes: bool = True
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    prefilter: PrefilterSettings = field(default_factory=PrefilterSettings)
    mode: Mode = Mode.REALTIME
    batch: BatchSettings = field(default_factory=BatchSettings)
    batch_threshold: int = 500
    on_batch_submitted: Callable[[StoredBatch], None] = lambda batch: None
    on_batch_ended: Callable[[StoredBatch], None] = lambda batch: None
    on_input_skipped: Callable[[Path, str], None] = lambda path, reason: None
    # Once the inputs are read: what the folder walks passed over (types, folders), counted.
    on_folder_summary: Callable[[SkippedInputs], None] = lambda skipped: None


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOutcome:
    report: CostReport
    breakdown: Breakdown
    stats: ExecutionStats
    outcomes: dict[str, int]
    out_dir: Path
    mode: Mode
    timing: Timing
    possibly_ours: tuple[str, ...] = ()
    this_run: ThisRun
    what_if: WhatIf | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ThisRun:
    """What this invocation did, apart from the report, which covers the whole run directory."""

    calls: int
    earlier_calls: int
    blocks: int
    already_done: int
    # This invocation's calls priced as the report prices them: the blocks they answered,
    # their cost, and one uncached call per block for those blocks.
    answered: int = 0
    actual: Decimal = Decimal(0)
    baseline: Decimal = Decimal(0)


def read_job_inputs(spec: JobSpec) -> tuple[Inputs, list[Block], Task, RuleCheck | None]:
    for path in spec.inputs:
        if path.is_dir() and path.resolve() == spec.out_dir.resolve():
            # A run directory inside an input folder is skipped; as the folder itself, the
            # next run would read its revised copies back as documents.
            raise UserInputError(
                f"{path}: an input folder cannot also be the run directory (--out); choose"
                " another --out"
            )
    inputs = read_inputs(list(spec.inputs), on_skip=spec.on_input_skipped)
    spec.on_folder_summary(inputs.skipped)
    blocks = [block for document in inputs.documents for block in document.blocks]
    if not blocks:
        raise UserInputError("the input has no blocks to work on")
    check = None
    config = read_vale_ini(spec.vale_config) if spec.vale_config is not None else None
    packages = load_styles(spec.styles) + (config.load_packages() if config else [])
    if config is not None and not packages:
        raise UserInputError(f"{spec.vale_config}: the config names no style found")
    if packages:
        paths = [document.id for document in inputs.documents]
        check = RuleCheck(packages, apply_fixes=spec.apply_fixes, config=config, paths=paths)
    task = load_task(
        spec.guide,
        model_rules=check.instructions_for_model() if check else "",
        engine_digest=check.digest() if check else "",
    )
    return inputs, blocks, task, check


@dataclass(frozen=True, slots=True, kw_only=True)
class _Listeners:
    on_start: Callable[[int, int], None]
    on_progress: Callable[[int], None]
    on_call: Callable[[CallRecord], None]
    on_spend: Callable[[Spend], None]


async def run_job(
    spec: JobSpec,
    models: Provider | Lanes,
    prices: PriceTable,
    *,
    on_start: Callable[[int, int], None] = lambda total, done: None,
    on_progress: Callable[[int], None] = lambda done: None,
    on_call: Callable[[CallRecord], None] = lambda call: None,
    on_spend: Callable[[Spend], None] = lambda spend: None,
    store: RunStore | None = None,
) -> JobOutcome:
    """Run the job with one model (a provider) or several (`Lanes`) on ``store``, which the
    caller opened for it and closes.

    Without a store, the run directory's own SQLite store is opened (and locked) for the
    job, only once the inputs have been read: bad input leaves no run directory behind.
    """
    lanes = models if isinstance(models, Lanes) else Lanes.one(models)
    inputs, blocks, task, check = read_job_inputs(spec)
    for lane in lanes.lanes:
        prices.for_model(lane.profile.id)
    listeners = _Listeners(
        on_start=on_start, on_progress=on_progress, on_call=on_call, on_spend=on_spend
    )
    run = partial(_run_with_store, spec, inputs, blocks, task, check, lanes, prices, listeners)
    if store is not None:
        return await run(store)
    async with open_run_store(spec.out_dir) as own:
        return await run(own)


async def _run_with_store(
    spec: JobSpec,
    inputs: Inputs,
    blocks: list[Block],
    task: Task,
    check: RuleCheck | None,
    lanes: Lanes,
    prices: PriceTable,
    listeners: _Listeners,
    store: RunStore,
) -> JobOutcome:
    fingerprints = lanes.fingerprints(task)
    await store.open_run(
        fingerprint=lanes.run_fingerprint(task),
        settings=_settings(spec, lanes),
        lanes=fingerprints,
    )
    await store.put_blocks(blocks)
    earlier_calls = len(await store.calls())
    stored = await store.results()
    # A stored result ends a block only while the block still has the text it was made for.
    pending = [
        block
        for block in blocks
        if (result := stored.get(block.id)) is None
        or result.outcome is Outcome.FAILED
        or result.content_hash != block.content_hash
    ]
    to_do, skipped = prefilter(pending, spec.prefilter)
    await store.record_results(skipped)
    to_send: dict[str, list[Block]] = {}
    copies: dict[str, list[Block]] = {}
    for name, routed in lanes.assign(to_do).items():
        to_send[name], copies[name] = await reuse_stored_results(store, routed, fingerprints[name])
    sending = {block.id for lane_blocks in to_send.values() for block in lane_blocks}
    findings = check.findings(inputs.documents, sending) if check else {}
    if not task.needs_model:
        await store.record_results(
            [
                engine_result(block, findings.get(block.id, NO_FINDINGS))
                for lane_blocks in to_send.values()
                for block in lane_blocks
            ]
        )
        to_send = {name: [] for name in to_send}
    copied = sum(len(lane_copies) for lane_copies in copies.values())
    listeners.on_start(len(blocks), len(blocks) - len(sending) - copied)
    started = time.time()
    by_id = {block.id: block for block in blocks}
    meter = SpendMeter(prices)
    lane_runs = [
        LaneRun(
            lane=lane,
            parts=ExecutionParts.build(
                profile=lane.profile,
                provider_name=lane.provider.name,
                task=task,
                store=store,
                settings=spec.execution,
                on_progress=listeners.on_progress,
                on_call=listeners.on_call,
                on_answered=partial(
                    _spend, meter, PromptTokens.of(lane.profile, task), by_id, listeners.on_spend
                ),
                add_findings=lambda result, block: merge(
                    result, findings.get(block.id, NO_FINDINGS), block
                ),
            ),
            blocks=to_send[lane.name],
        )
        for lane in lanes.lanes
    ]
    open_batches = await store.batches(open_only=True)
    total = sum(len(lane_blocks) for lane_blocks in to_send.values())
    for lane_run in lane_runs:
        lane_run.mode = choose_mode(
            spec.mode,
            large=total >= spec.batch_threshold,
            deadline=spec.batch.deadline,
            open_batches=any(batch.belongs_to(lane_run.parts.lane) for batch in open_batches),
            has_api=lane_run.lane.provider.batches is not None,
        )
    run_lane = partial(
        execute_lane,
        requested=spec.mode,
        batch=spec.batch,
        started=started,
        on_submitted=spec.on_batch_submitted,
        on_ended=spec.on_batch_ended,
    )
    async with anyio.create_task_group() as group:
        for lane_run in lane_runs:
            group.start_soon(run_lane, lane_run)
    stats = ExecutionStats()
    for lane_run in lane_runs:
        stats = stats.plus(lane_run.stats)
    for name, lane_copies in copies.items():
        await copy_to_duplicates(store, lane_copies, fingerprints[name])
    listeners.on_progress(copied)
    mode = Mode.BATCH if any(run.mode is Mode.BATCH for run in lane_runs) else Mode.REALTIME
    return await _finish(
        spec, inputs, blocks, task, lanes, prices, store,
        mode=mode, stats=stats, started=started, earlier_calls=earlier_calls, pending=pending,
    )  # fmt: skip


def _spend(
    meter: SpendMeter,
    tokens: PromptTokens,
    by_id: dict[str, Block],
    on_spend: Callable[[Spend], None],
    call: CallRecord,
    results: Sequence[BlockResult],
) -> None:
    def block_tokens(block_id: str) -> int:
        return tokens.block(by_id[block_id])

    on_spend(meter.add(call, results, prefix_tokens=tokens.prefix, block_tokens=block_tokens))


async def _finish(
    spec: JobSpec,
    inputs: Inputs,
    blocks: list[Block],
    task: Task,
    lanes: Lanes,
    prices: PriceTable,
    store: RunStore,
    *,
    mode: Mode,
    stats: ExecutionStats,
    started: float,
    earlier_calls: int,
    pending: list[Block],
) -> JobOutcome:
    """Price every call the run directory holds, write the outputs, and say what this
    invocation did."""
    results = await store.results()
    calls = await store.calls()
    # Every block the run directory ever held: earlier invocations may have paid for blocks of
    # inputs this one no longer names.
    stored_blocks = await store.blocks()
    interrupted = await store.call_starts(open_only=True)
    profiles = [lane.profile for lane in lanes.lanes]
    served_by = ", ".join(dict.fromkeys(lane.provider.name for lane in lanes.lanes))
    report_for = partial(
        cost_report, calls, results, stored_blocks, task, profiles,
        served_by=served_by, interrupted=interrupted,
    )  # fmt: skip
    report = report_for(prices)
    # Savings are priced as the first lane's model: the one a run of one lane would use.
    first = PromptTokens.of(lanes.first.profile, task)
    summary = breakdown(
        blocks,
        results,
        report,
        prefix_tokens=first.prefix,
        count=first.count,
        prices=prices.for_model(lanes.first.profile.id),
    )
    batches = await store.batches()
    timing = _timing(started, batches)
    unproven = tuple(possibly_ours(batches))
    advice = (
        f"; every result is kept in {spec.out_dir / RUN_FILE_NAME}: fix this and run the same "
        "command again, which sends no finished block again"
    )
    hypothetical = what_if(report_for, report, profiles, prices)
    with run_directory_errors("cannot write", advice):
        write_outputs(
            spec.out_dir, inputs.documents, results, report, summary,
            mode=mode.value, timing=timing, possibly_ours=unproven,
            skipped_inputs=inputs.skipped, what_if=hypothetical,
        )  # fmt: skip
    ours = cost_report(
        calls[earlier_calls:], results, stored_blocks, task, profiles, prices, served_by
    )
    return JobOutcome(
        report=report,
        breakdown=summary,
        stats=stats,
        outcomes=dict(Counter(result.outcome.value for result in results.values())),
        out_dir=spec.out_dir,
        mode=mode,
        timing=timing,
        possibly_ours=unproven,
        this_run=ThisRun(
            calls=len(calls) - earlier_calls,
            earlier_calls=earlier_calls,
            blocks=len(blocks),
            already_done=len(blocks) - len(pending),
            answered=ours.blocks,
            actual=ours.actual.total,
            baseline=ours.baseline.total,
        ),
        what_if=hypothetical,
    )


def _settings(spec: JobSpec, lanes: Lanes) -> dict[str, str]:
    settings = {
        "provider": lanes.first.provider.name,
        "model": lanes.first.profile.id,
        "guide": str(spec.guide),
    }
    if len(lanes.lanes) > 1:
        settings["lanes"] = " ".join(lane.name for lane in lanes.lanes)
    return settings


def _timing(started: float, batches: Sequence[StoredBatch]) -> Timing:
    ran = [batch for batch in batches if batch.ended_at is not None]
    span = (
        max(batch.ended_at for batch in ran if batch.ended_at is not None)
        - min(batch.created_at for batch in ran)
        if ran
        else None
    )
    return Timing(
        wall_seconds=time.time() - started,
        batches=len(ran),
        batch_items=sum(len(batch.items) for batch in ran),
        batch_seconds=span,
    )
