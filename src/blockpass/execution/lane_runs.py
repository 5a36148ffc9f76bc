"""One lane's share of a job: its blocks, sent in realtime or in provider batches.

Lanes of one job run side by side, each with its own `ExecutionParts` (prefix, packs, learned
sizes) and its own executor; a lane with nothing to send and no batch left open does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from blockpass.blocks import Block
from blockpass.errors import UserInputError
from blockpass.execution.batch import BatchExecutor, BatchSettings
from blockpass.execution.packwork import ExecutionParts, ExecutionStats
from blockpass.execution.realtime import RealtimeExecutor
from blockpass.lanes import Lane
from blockpass.store import StoredBatch

__all__ = ["LaneRun", "Mode", "choose_mode", "execute_lane"]


class Mode(StrEnum):
    """How packs reach the model: calls now, a provider batch at half price, or chosen by size.

    ``auto`` picks batch for a job with at least ``batch_threshold`` blocks to send and no
    deadline, realtime otherwise.
    """

    REALTIME = "realtime"
    BATCH = "batch"
    AUTO = "auto"


@dataclass(slots=True, kw_only=True)
class LaneRun:
    lane: Lane
    parts: ExecutionParts
    blocks: list[Block]
    mode: Mode = Mode.REALTIME
    stats: ExecutionStats = field(default_factory=ExecutionStats)


def choose_mode(
    requested: Mode, *, large: bool, deadline: float | None, open_batches: bool, has_api: bool
) -> Mode:
    """A lane's mode: batch where asked for (or chosen by size) and the provider has a batch
    API, and always where the lane left batches open, to collect them."""
    if not has_api:
        if requested is Mode.BATCH:
            raise UserInputError("this provider has no batch API: use --mode realtime")
        return Mode.REALTIME
    if open_batches or requested is Mode.BATCH:
        return Mode.BATCH
    if requested is Mode.AUTO:
        return Mode.BATCH if large and deadline is None else Mode.REALTIME
    return Mode.REALTIME


async def execute_lane(
    run: LaneRun,
    *,
    requested: Mode,
    batch: BatchSettings,
    started: float,
    on_submitted: Callable[[StoredBatch], None],
    on_ended: Callable[[StoredBatch], None],
) -> None:
    """Send a lane's blocks, or finish the batches it left open; nothing for an idle lane."""
    provider, parts = run.lane.provider, run.parts
    await parts.resume_lane()
    to_send = await parts.keep_fitting(run.blocks)
    realtime = RealtimeExecutor(provider=provider, parts=parts)
    api = provider.batches
    if run.mode is Mode.BATCH and api is not None:
        if requested is Mode.REALTIME:
            # Batches a batch-mode run left behind: keep what they finished, cancel the rest.
            batch = replace(batch, deadline=started)
        run.stats = await BatchExecutor(
            provider_name=provider.name,
            api=api,
            parts=parts,
            realtime=realtime,
            settings=batch,
            on_submitted=on_submitted,
            on_ended=on_ended,
        ).run(to_send)
    elif to_send:
        run.stats = await realtime.run(to_send)
