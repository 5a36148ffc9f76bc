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

import hashlib
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from blockpass.blocks import REUSED, Block, BlockResult, Document, Outcome
from blockpass.breakdown import Breakdown, breakdown
from blockpass.deterministic import NO_FINDINGS, RuleCheck, engine_result, merge
from blockpass.documents import Inputs, SkippedInputs, read_inputs, render_document
from blockpass.errors import UserInputError
from blockpass.execution.batch import BatchExecutor, BatchSettings
from blockpass.execution.ownership import possibly_ours
from blockpass.execution.packwork import ExecutionParts, ExecutionSettings, ExecutionStats
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.files import run_directory_errors
from blockpass.ledger import (
    WHAT_IF_MODEL,
    CostReport,
    InterruptedCall,
    Ledger,
    LedgerCall,
    WhatIf,
)
from blockpass.packing import block_input_tokens
from blockpass.prefilter import PrefilterSettings, prefilter
from blockpass.prices import PriceTable
from blockpass.progress import Spend, SpendMeter
from blockpass.providers.base import ModelProfile, Provider
from blockpass.results import apply_edits
from blockpass.reuse import plan_reuse
from blockpass.rules import load_styles
from blockpass.rules.config import read_vale_ini
from blockpass.store import (
    RUN_FILE_NAME,
    CallRecord,
    CallStart,
    RunStore,
    StoredBatch,
    open_run_store,
)
from blockpass.task import Task, load_task
from blockpass.tokens import count_tokens


class Mode(StrEnum):
    """How packs reach the model: calls now, a provider batch at half price, or chosen by size.

    ``auto`` picks batch for a job with at least ``batch_threshold`` blocks to send and no
    deadline, realtime otherwise.
    """

    REALTIME = "realtime"
    BATCH = "batch"
    AUTO = "auto"


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


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """How long this invocation took, and the run's batches from first submit to last end."""

    wall_seconds: float
    batches: int
    batch_items: int
    batch_seconds: float | None

    def to_json(self) -> dict[str, object]:
        return {
            "wall_seconds": round(self.wall_seconds, 3),
            "batches": self.batches,
            "batch_items": self.batch_items,
            "batch_time_to_completion_seconds": None
            if self.batch_seconds is None
            else round(self.batch_seconds, 3),
        }


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


async def run_job(
    spec: JobSpec,
    provider: Provider,
    prices: PriceTable,
    *,
    on_start: Callable[[int, int], None] = lambda total, done: None,
    on_progress: Callable[[int], None] = lambda done: None,
    on_call: Callable[[CallRecord], None] = lambda call: None,
    on_spend: Callable[[Spend], None] = lambda spend: None,
    store: RunStore | None = None,
) -> JobOutcome:
    """Run the job on ``store``, which the caller opened for it and closes.

    Without one, the run directory's own SQLite store is opened (and locked) for the job,
    only once the inputs have been read: bad input leaves no run directory behind.
    """
    inputs, blocks, task, check = read_job_inputs(spec)
    prices.for_model(provider.profile.id)
    fingerprint = task.fingerprint(provider.profile.results_key)
    run = partial(
        _run_with_store, spec, inputs, blocks, task, check, fingerprint,
        provider=provider, prices=prices,
        on_start=on_start, on_progress=on_progress, on_call=on_call, on_spend=on_spend,
    )  # fmt: skip
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
    fingerprint: str,
    store: RunStore,
    *,
    provider: Provider,
    prices: PriceTable,
    on_start: Callable[[int, int], None],
    on_progress: Callable[[int], None],
    on_call: Callable[[CallRecord], None],
    on_spend: Callable[[Spend], None],
) -> JobOutcome:
    await store.open_run(
        fingerprint=fingerprint,
        settings={
            "provider": provider.name,
            "model": provider.profile.id,
            "guide": str(spec.guide),
        },
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
    to_send, copies = await _reuse(store, to_do, fingerprint)
    findings = check.findings(inputs.documents, {block.id for block in to_send}) if check else {}
    if not task.needs_model:
        await store.record_results(
            [engine_result(block, findings.get(block.id, NO_FINDINGS)) for block in to_send]
        )
        to_send = []
    on_start(len(blocks), len(blocks) - len(to_send) - len(copies))
    started = time.time()
    count = partial(count_tokens, family=provider.profile.tokenizer)
    by_id = {block.id: block for block in blocks}
    meter = SpendMeter(
        prices,
        prefix_tokens=count(task.system_prefix),
        block_tokens=lambda block_id: block_input_tokens(by_id[block_id], count),
    )
    parts = ExecutionParts.build(
        profile=provider.profile,
        provider_name=provider.name,
        task=task,
        store=store,
        settings=spec.execution,
        on_progress=on_progress,
        on_call=on_call,
        on_answered=lambda call, results: on_spend(meter.add(call, results)),
        add_findings=lambda result, block: merge(
            result, findings.get(block.id, NO_FINDINGS), block
        ),
    )
    await parts.resume_lane()
    to_send = await parts.keep_fitting(to_send)
    realtime = RealtimeExecutor(provider=provider, parts=parts)
    api = provider.batches
    open_batches = await store.batches(open_only=True)
    mode = _choose_mode(
        spec, len(to_send), open_batches=bool(open_batches), has_api=api is not None
    )
    if mode is Mode.BATCH and api is not None:
        settings = spec.batch
        if spec.mode is Mode.REALTIME:
            # Batches a batch-mode run left behind: keep what they finished, cancel the rest.
            settings = replace(settings, deadline=started)
        stats = await BatchExecutor(
            provider_name=provider.name,
            api=api,
            parts=parts,
            realtime=realtime,
            settings=settings,
            on_submitted=spec.on_batch_submitted,
            on_ended=spec.on_batch_ended,
        ).run(to_send)
    else:
        stats = await realtime.run(to_send)
    await _copy_to_duplicates(store, copies, fingerprint)
    on_progress(len(copies))
    results = await store.results()
    calls = await store.calls()
    # Every block the run directory ever held: earlier invocations may have paid for blocks of
    # inputs this one no longer names.
    stored_blocks = await store.blocks()
    interrupted = await store.call_starts(open_only=True)
    report = cost_report(
        calls, results, stored_blocks, task, provider.profile, prices, provider.name,
        interrupted=interrupted,
    )  # fmt: skip
    what_if = None
    if report.calls and report.at_most == 0:
        # A run nobody billed (a local model) shows what the same usage costs when billed.
        card = prices.for_model(WHAT_IF_MODEL)
        priced = prices.pricing(provider.profile.id, card, f"what-if as {WHAT_IF_MODEL}")
        what_if = WhatIf(
            model=WHAT_IF_MODEL,
            report=cost_report(
                calls,
                results,
                stored_blocks,
                task,
                provider.profile,
                priced,
                provider.name,
                interrupted=interrupted,
            ),
        )
    summary = breakdown(
        blocks,
        results,
        report,
        prefix_tokens=count(task.system_prefix),
        count=count,
        prices=prices.for_model(provider.profile.id),
    )
    batches = await store.batches()
    timing = _timing(started, batches)
    unproven = tuple(possibly_ours(batches))
    advice = (
        f"; every result is kept in {spec.out_dir / RUN_FILE_NAME}: fix this and run the same "
        "command again, which sends no finished block again"
    )
    with run_directory_errors("cannot write", advice):
        write_outputs(
            spec.out_dir, inputs.documents, results, report, summary,
            mode=mode, timing=timing, possibly_ours=unproven, skipped_inputs=inputs.skipped,
            what_if=what_if,
        )  # fmt: skip
    ours = cost_report(
        calls[earlier_calls:], results, stored_blocks, task, provider.profile, prices,
        provider.name,
    )  # fmt: skip
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
        what_if=what_if,
    )


def _choose_mode(spec: JobSpec, to_send: int, *, open_batches: bool, has_api: bool) -> Mode:
    if not has_api:
        if spec.mode is Mode.BATCH:
            raise UserInputError("this provider has no batch API: use --mode realtime")
        return Mode.REALTIME
    if open_batches or spec.mode is Mode.BATCH:
        return Mode.BATCH
    if spec.mode is Mode.AUTO:
        large = to_send >= spec.batch_threshold
        return Mode.BATCH if large and spec.batch.deadline is None else Mode.REALTIME
    return Mode.REALTIME


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


async def _reuse(
    store: RunStore, blocks: list[Block], fingerprint: str
) -> tuple[list[Block], list[Block]]:
    """Record earlier results for the same text and task; send each remaining text once.

    Returns the blocks to send and the blocks whose text is being sent for another block:
    those take that block's result afterwards.
    """
    earlier = await store.lookup_previous_results(
        {block.content_hash for block in blocks}, fingerprint
    )
    plan = plan_reuse(blocks, earlier)
    await store.record_results(
        [_reused(earlier[block.content_hash], block) for block in plan.reused]
    )
    return list(plan.to_send), list(plan.copies)


async def _copy_to_duplicates(store: RunStore, copies: list[Block], fingerprint: str) -> None:
    if not copies:
        return
    found = await store.lookup_previous_results(
        {block.content_hash for block in copies}, fingerprint
    )
    await store.record_results(
        [
            _reused(found[block.content_hash], block)
            if block.content_hash in found
            else BlockResult(
                block_id=block.id,
                content_hash=block.content_hash,
                outcome=Outcome.FAILED,
                reason="the same text failed in another block",
            )
            for block in copies
        ]
    )


def _reused(source: BlockResult, block: Block) -> BlockResult:
    return replace(source, block_id=block.id, call_id=None, reason=REUSED)


def cost_report(
    calls: Sequence[CallRecord],
    results: dict[str, BlockResult],
    blocks: Sequence[Block],
    task: Task,
    profile: ModelProfile,
    prices: PriceTable,
    served_by: str,
    *,
    interrupted: Sequence[CallStart] = (),
) -> CostReport:
    """The report of every call the run paid for, rebuilt from the store alone.

    ``interrupted``: calls stored as started that no record closed (the process died or was
    interrupted while they were in flight), priced at their upper bound.
    """
    count = partial(count_tokens, family=profile.tokenizer)
    by_id = {block.id: block for block in blocks}
    produced: dict[int, dict[str, int]] = defaultdict(dict)
    for result in results.values():
        if result.call_id is not None and result.outcome is Outcome.RESULT:
            produced[result.call_id][result.block_id] = block_input_tokens(
                by_id[result.block_id], count
            )
    ledger = Ledger(prices, prefix_tokens=count(task.system_prefix), served_by=served_by)
    for call in calls:
        ledger.record(
            LedgerCall(
                model=call.model,
                usage=call.usage,
                batch=call.batch,
                status=call.status,
                resubmission=call.batch and call.attempt > 1,
                results=produced.get(call.id, {}) if call.id is not None else {},
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


def write_outputs(
    out_dir: Path,
    documents: Sequence[Document],
    results: dict[str, BlockResult],
    report: CostReport,
    summary: Breakdown,
    *,
    mode: Mode = Mode.REALTIME,
    timing: Timing | None = None,
    possibly_ours: Sequence[str] = (),
    skipped_inputs: SkippedInputs | None = None,
    what_if: WhatIf | None = None,
) -> None:
    lines = []
    targets = revised_paths(out_dir, [document.id for document in documents])
    for document in documents:
        for block in document.blocks:
            lines.append(
                json.dumps(_result_line(document, block, results.get(block.id)), ensure_ascii=False)
            )
        revised = render_document(
            document,
            {
                block.id: apply_edits(block.text, results[block.id].edits)
                for block in document.blocks
                if block.id in results and results[block.id].edits
            },
        )
        target = targets[document.id]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(revised)
    (out_dir / "results.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    payload: dict[str, object] = {**report.to_json(), "breakdown": summary.to_json()}
    payload["mode"] = mode.value
    if timing is not None:
        payload["timing"] = timing.to_json()
    if possibly_ours:
        payload["possibly_ours"] = list(possibly_ours)
    if skipped_inputs is not None:
        payload["skipped_files"] = skipped_inputs.to_json()
    if what_if is not None:
        payload["what_if"] = what_if.to_json()
    (out_dir / "report.json").write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def revised_path(out_dir: Path, document_id: str) -> Path:
    """Where a revised document goes: always inside the run directory, whatever its id.

    A document named by an absolute path or with ``..`` in its id keeps only its safe parts,
    so writing it back can never touch a file outside ``out_dir/revised``.
    """
    parts = [part for part in PurePosixPath(document_id).parts if part not in ("/", "..", ".")]
    return out_dir.joinpath("revised", *parts)


def revised_paths(out_dir: Path, document_ids: Sequence[str]) -> dict[str, Path]:
    """`revised_path` for each document, made distinct where two would meet.

    `a.md` and `../a.md` (or `A.md` beside `a.md`, on a case-insensitive disk) would write
    one file. In each such group the document whose id is its path under `revised/` (then
    the smallest id) keeps the plain name; the others get a name tagged with a hash of
    their id (`a.1f0c2e9d.md`), so the choice never depends on the order of the inputs.
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for document_id in document_ids:
        groups[revised_path(out_dir, document_id).as_posix().casefold()].append(document_id)
    targets: dict[str, Path] = {}
    for members in groups.values():
        plain = min(members, key=lambda document_id: (_moved(out_dir, document_id), document_id))
        for document_id in members:
            target = revised_path(out_dir, document_id)
            if document_id != plain:
                tag = hashlib.sha256(document_id.encode()).hexdigest()[:8]
                target = target.with_name(f"{target.stem}.{tag}{target.suffix}")
            targets[document_id] = target
    return targets


def _moved(out_dir: Path, document_id: str) -> bool:
    return revised_path(out_dir, document_id) != out_dir.joinpath("revised", document_id)


def _result_line(document: Document, block: Block, result: BlockResult | None) -> dict[str, Any]:
    line: dict[str, Any] = {"block_id": block.id, "document": document.id, "kind": block.kind.value}
    if block.source_id is not None:
        line["source_id"] = block.source_id
    if result is None:
        return {**line, "outcome": "pending"}
    line["outcome"] = result.outcome.value
    if result.outcome is Outcome.RESULT:
        line["verdict"] = result.verdict.value if result.verdict else None
        line["edits"] = [
            {"find": e.find, "replace": e.replace, "rule": e.rule, "source": e.source}
            for e in result.edits
        ]
        line["notes"] = list(result.notes)
        if result.rejected_edits:
            line["rejected_edits"] = [
                {"find": e.find, "replace": e.replace, "rule": e.rule}
                for e in result.rejected_edits
            ]
    else:
        line["reason"] = result.reason
    return line
