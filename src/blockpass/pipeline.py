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

__all__ = [
    "ContextMode",
    "JobOutcome",
    "JobSpec",
    "Mode",
    "RetrievalSettings",
    "ThisRun",
    "read_job_inputs",
    "run_job",
]

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import anyio

from blockpass.blocks import Block, BlockResult
from blockpass.context import ContextMode, ContextStats, RetrievalSettings
from blockpass.context_choice import (
    ContextChoice,
    retrieved_rules,
)
from blockpass.deterministic import NO_FINDINGS, RuleCheck, engine_result, merge
from blockpass.documents import Inputs, SkippedInputs, read_inputs
from blockpass.errors import UserInputError
from blockpass.execution.batch import BatchSettings
from blockpass.execution.block_leases import drop_dead_runs_leases
from blockpass.execution.lane_runs import LaneRun, Mode, choose_mode, execute_lane
from blockpass.execution.packwork import ExecutionParts, ExecutionSettings, ExecutionStats
from blockpass.execution.tool_turns import open_job_tools
from blockpass.guide_retrieval import GuideIndex
from blockpass.job_context import choose_run_context, open_job_guide
from blockpass.job_outcome import ContextReport, JobOutcome, ThisRun, finish_job
from blockpass.lanes import Lanes
from blockpass.mcp_bridge.client import ServerAddress
from blockpass.mcp_bridge.loop import LoopLimits
from blockpass.mcp_bridge.rule_tools import StyleRuleTools
from blockpass.prefilter import PrefilterSettings, prefilter
from blockpass.prices import PriceTable
from blockpass.progress import Spend, SpendMeter
from blockpass.providers.base import Provider
from blockpass.reuse import copy_to_duplicates, reuse_stored_results, unfinished
from blockpass.rules import load_styles
from blockpass.rules.config import read_vale_ini
from blockpass.run_costs import PromptTokens
from blockpass.store import CallRecord, RunStore, StoredBatch, open_run_store
from blockpass.task import Task, load_task
from blockpass.verdicts import VerdictFormat


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
    # What requests carry of the guide: all of it, cached; or its core, cached, and the rules
    # retrieved for each pack (``context.py``); or whichever costs less.
    context: ContextMode = ContextMode.FULL
    # How the model answers (``verdicts.py``): the compact format costs a fraction of the
    # output tokens for the same findings.
    verdicts: VerdictFormat = VerdictFormat.FULL
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    core: Sequence[str] = ()
    # Where rule indexes are kept, one per guide content; None: inside the run directory.
    index_dir: Path | None = None
    on_index_build: Callable[[int], None] = lambda units: None
    # MCP servers whose tools the model may call: each pack then goes through a tool loop
    # (realtime only: one batch request cannot wait for tool results).
    mcp_servers: Sequence[ServerAddress] = ()
    tool_limits: LoopLimits = field(default_factory=LoopLimits)
    # With style packages: the engine's fixes that depend on context go to the model as
    # numbered proposals, applied if it accepts them (``proposals.py``); else they are notes.
    proposals: bool = True


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
        check = RuleCheck(
            packages,
            apply_fixes=spec.apply_fixes,
            proposals=spec.proposals,
            config=config,
            paths=paths,
        )
    task = load_task(
        spec.guide,
        model_rules=check.instructions_for_model() if check else "",
        engine_digest=check.digest() if check else "",
        verdicts=spec.verdicts,
        rule_messages=check.messages() if check else (),
        proposals=check is not None and check.proposals,
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
    refuse_tools_in_batches(spec)
    inputs, blocks, task, check = read_job_inputs(spec)
    # Opened before the store, so that a bad guide or --core leaves no run directory behind.
    guide = (
        None
        if spec.context is ContextMode.FULL
        else await anyio.to_thread.run_sync(open_job_guide, spec, task)
    )
    for lane in lanes.lanes:
        prices.for_model(lane.profile.id)
    listeners = _Listeners(
        on_start=on_start, on_progress=on_progress, on_call=on_call, on_spend=on_spend
    )
    run = partial(
        _run_with_store, spec, inputs, blocks, task, check, guide, lanes, prices, listeners
    )
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
    guide: GuideIndex | None,
    lanes: Lanes,
    prices: PriceTable,
    listeners: _Listeners,
    store: RunStore,
) -> JobOutcome:
    pending = unfinished(blocks, await store.results())
    to_do, skipped = prefilter(pending, spec.prefilter)
    choice, retrieved = await choose_run_context(
        spec, task, guide, to_do, lanes.first.profile, prices, store
    )
    whole_task, task = task, choice.task(task)
    fingerprints = lanes.fingerprints(task)
    await store.open_run(
        fingerprint=lanes.run_fingerprint(task),
        settings=_settings(spec, lanes, choice),
        lanes=fingerprints,
    )
    await store.put_blocks(blocks)
    # This job is its run's one runner (``RunHold.SOLE``): leases of an earlier runner are
    # a killed one's.
    await drop_dead_runs_leases(store)
    earlier_calls = len(await store.calls())
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
    if choice.guide is not None and choice.mode is ContextMode.RETRIEVE and retrieved is None:
        sent = [block for lane_blocks in to_send.values() for block in lane_blocks]
        retrieved = await anyio.to_thread.run_sync(
            retrieved_rules, choice.guide, sent, spec.retrieval
        )
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
                    _spend,
                    meter,
                    PromptTokens.of(lane.profile, whole_task),
                    by_id,
                    listeners.on_spend,
                ),
                add_findings=lambda result, block: merge(
                    result, findings.get(block.id, NO_FINDINGS), block
                ),
                retrieved=retrieved,
                findings=findings,
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
            has_api=lane_run.lane.provider.batches is not None
            and not (spec.mcp_servers or choice.mode is ContextMode.AGENTIC),
        )
    job_tools = open_job_tools(
        spec.mcp_servers,
        limits=spec.tool_limits,
        server_log=spec.out_dir / "mcp-servers.log",
        own=None
        if choice.guide is None or choice.mode is not ContextMode.AGENTIC
        else StyleRuleTools(choice.guide.index, core=choice.guide.core_ids),
    )
    async with job_tools as tools, anyio.create_task_group() as group:
        for lane_run in lane_runs:
            group.start_soon(
                partial(
                    execute_lane,
                    lane_run,
                    requested=spec.mode,
                    batch=spec.batch,
                    started=started,
                    on_submitted=spec.on_batch_submitted,
                    on_ended=spec.on_batch_ended,
                    tools=tools,
                )
            )
    stats = ExecutionStats()
    for lane_run in lane_runs:
        stats = stats.plus(lane_run.stats)
    for name, lane_copies in copies.items():
        await copy_to_duplicates(store, lane_copies, fingerprints[name])
    listeners.on_progress(copied)
    mode = Mode.BATCH if any(run.mode is Mode.BATCH for run in lane_runs) else Mode.REALTIME
    context = ContextReport(
        choice=choice,
        stats=ContextStats.merged(run.parts.planner.context_stats for run in lane_runs),
    )
    # Costs are counted against one call per block with the whole guide, whatever was sent.
    served_by = ", ".join(dict.fromkeys(lane.provider.name for lane in lanes.lanes))
    return await finish_job(
        spec.out_dir, inputs, blocks, whole_task, [lane.profile for lane in lanes.lanes],
        prices, store, served_by=served_by,
        mode=mode, stats=stats, started=started, earlier_calls=earlier_calls, pending=pending,
        context=context,
    )  # fmt: skip


def refuse_tools_in_batches(spec: JobSpec) -> None:
    """Tool loops go in realtime only, said before anything is read."""
    if (spec.mcp_servers or spec.context is ContextMode.AGENTIC) and spec.mode is Mode.BATCH:
        raise UserInputError(
            f"{'--mcp' if spec.mcp_servers else 'agentic mode'} needs --mode realtime: a"
            " provider batch sends each request once and cannot hand tool results back to the"
            " model"
        )


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


def _settings(spec: JobSpec, lanes: Lanes, choice: ContextChoice) -> dict[str, str]:
    settings = {
        "provider": lanes.first.provider.name,
        "model": lanes.first.profile.id,
        "guide": str(spec.guide),
        "context": choice.mode.value,
    }
    if len(lanes.lanes) > 1:
        settings["lanes"] = " ".join(lane.name for lane in lanes.lanes)
    return settings
