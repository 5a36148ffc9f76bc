"""What a job's requests carry of its guide: the whole guide, or the rules retrieved for each
block (``--context full|retrieve|auto|agentic``), chosen once per run and kept when it is run
again (another choice would be another task, and its results lost)."""

from __future__ import annotations

__all__ = ["choose_job_context", "choose_run_context", "open_job_guide"]

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import anyio

from blockpass.blocks import Block
from blockpass.context import ContextMode, RetrievedRules
from blockpass.context_choice import BatchPacks, ContextChoice, choose_context
from blockpass.errors import UserInputError
from blockpass.execution.lane_runs import Mode
from blockpass.execution.planning import PackPlanner
from blockpass.guide_retrieval import GuideIndex, open_guide_index
from blockpass.packing import batch_pack_bound
from blockpass.prices import PriceTable
from blockpass.providers.base import ModelProfile
from blockpass.store import RunStore
from blockpass.task import Task

if TYPE_CHECKING:
    # pipeline imports this module; the spec is only read here.
    from blockpass.pipeline import JobSpec


async def choose_run_context(
    spec: JobSpec,
    task: Task,
    guide: GuideIndex | None,
    blocks: list[Block],
    profile: ModelProfile,
    prices: PriceTable,
    store: RunStore,
) -> tuple[ContextChoice, RetrievedRules | None]:
    """What the run's requests carry of the guide, priced on ``profile`` (its first lane's
    model); an ``auto`` run keeps the choice it made when it started (another one would be
    another task, and its results lost)."""
    if guide is None:
        return ContextChoice(mode=ContextMode.FULL, reason="asked for"), None
    if spec.context is ContextMode.AGENTIC:
        return ContextChoice(mode=ContextMode.AGENTIC, reason="asked for", guide=guide), None
    chosen = (await store.settings()).get("context")
    kept = spec.context is ContextMode.AUTO and chosen in (ContextMode.FULL, ContextMode.RETRIEVE)
    return await anyio.to_thread.run_sync(
        partial(
            choose_job_context,
            spec,
            task,
            guide,
            blocks,
            profile,
            prices,
            ContextMode(chosen) if kept and chosen else spec.context,
            reason="chosen when the run started" if kept else "",
        )
    )


def open_job_guide(spec: JobSpec, task: Task) -> GuideIndex:
    """The guide's index for a run that retrieves from it (blocking: it may build it)."""
    if spec.guide is None:
        raise UserInputError(f"--context {spec.context.value} retrieves from a guide: give --guide")
    return open_guide_index(
        task,
        spec.guide,
        cache_dir=spec.index_dir or spec.out_dir / "index",
        settings=spec.retrieval,
        core=spec.core,
        on_build=spec.on_index_build,
    )


def choose_job_context(
    spec: JobSpec,
    task: Task,
    guide: GuideIndex,
    blocks: Sequence[Block],
    profile: ModelProfile,
    prices: PriceTable,
    requested: ContextMode,
    *,
    reason: str = "",
) -> tuple[ContextChoice, RetrievedRules | None]:
    """``requested`` (``retrieve`` or ``auto``; ``full`` with a ``reason`` keeps a choice made
    before) for ``blocks`` on ``profile``; blocking: it may retrieve for every block."""
    if reason:
        return ContextChoice(mode=requested, reason=reason, guide=guide), None
    return choose_context(
        requested,
        whole=task,
        guide=guide,
        blocks=blocks,
        profile=profile,
        prices=prices.for_model(profile.id),
        settings=spec.retrieval,
        planner=partial(
            PackPlanner,
            profile=profile,
            min_blocks=spec.execution.min_blocks,
            max_blocks=spec.execution.max_blocks,
        ),
        batch=BatchPacks(max_blocks=batch_pack_bound(profile, spec.batch.max_blocks))
        if spec.mode is Mode.BATCH
        else None,
    )
