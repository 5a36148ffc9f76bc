"""`blockpass estimate`: what a job would cost under each strategy, with no call made.

Each row adds one optimisation to the one before, and every ratio compares with the first
row, one uncached call with the full prefix for every block:

  one call per block   every block
  + pre-filter         only the blocks the pre-filter keeps
  + reuse              each distinct text once (repeated blocks take the first one's result)
  + rule engine        nothing, when the engine covers the whole task (``--styles`` only)
  + prompt caching     the prefix written once and read by every later call
  + packing            blocks packed under the context and output budgets, then cached

Input tokens are exact (the model's tokenizer); output per block is the packing estimate
by block kind and rule-engine hits, not a measurement: the defaults, or what a run of the
same model learned (``learned``, read from its run directory with ``learned_output``).
Reuse (``reuse.plan_reuse``) and packing (``packing.fill_packs``) are the runner's own,
so ``packs`` and ``copies`` are what a fresh ``run`` of the same job would send and copy.
"""

from __future__ import annotations

from array import array
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from blockpass.blocks import Block
from blockpass.context import ContextMode
from blockpass.context_choice import ContextChoice
from blockpass.deterministic import NO_FINDINGS, Findings
from blockpass.errors import UserInputError
from blockpass.forecast import ForecastRow, PackBounds, Strategy, forecast
from blockpass.job_context import choose_job_context, open_job_guide
from blockpass.layout import answer_room, output_cap
from blockpass.packing import OutputEstimator, block_input_tokens, pack_size_bounds
from blockpass.pipeline import JobSpec, read_job_inputs
from blockpass.prefilter import prefilter
from blockpass.prices import PriceTable
from blockpass.providers.base import ModelProfile
from blockpass.reuse import plan_reuse
from blockpass.store import RUN_FILE_NAME, open_sqlite_store
from blockpass.task import Task
from blockpass.tokens import count_tokens
from blockpass.verdicts import OUTPUT_SCALE


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    rows: list[ForecastRow]
    blocks: int
    kept: int
    distinct: int
    to_model: int
    packs: tuple[tuple[str, ...], ...] = ()
    """Block ids per pack, in order, as a fresh run sends them."""
    copies: tuple[str, ...] = ()
    """Blocks that take the result of an earlier block with the same text."""
    context: ContextChoice | None = None
    """With ``--context retrieve`` or ``auto``: both modes priced on the blocks for the model."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockFigures:
    """What the forecast knows of blocks on one model: the prefix's tokens, and each
    block's input tokens and estimated output, in the blocks' order."""

    prefix: int
    tokens: Sequence[int]
    outputs: Sequence[int]

    @classmethod
    def of(
        cls,
        blocks: Sequence[Block],
        findings: Mapping[str, Findings],
        task: Task,
        profile: ModelProfile,
        learned: Mapping[str, float] | None = None,
    ) -> BlockFigures:
        count = partial(count_tokens, family=profile.tokenizer)
        estimator = OutputEstimator(scale=OUTPUT_SCALE[task.verdicts])
        estimator.resume(learned or {})
        return cls(
            prefix=count(task.system_prefix),
            tokens=array("I", (block_input_tokens(block, count) for block in blocks)),
            outputs=array(
                "I",
                (
                    estimator.estimate(block, findings.get(block.id, NO_FINDINGS).hits)
                    for block in blocks
                ),
            ),
        )


def forecast_packs(
    prefix_tokens: int,
    tokens: Sequence[int],
    outputs: Sequence[int],
    profile: ModelProfile,
    prices: PriceTable,
    min_blocks: int,
    max_blocks: int | None,
) -> list[ForecastRow]:
    """The forecast's rows for these blocks (their tokens and outputs) on ``profile``."""
    low, high = pack_size_bounds(profile, min_blocks, max_blocks)
    return forecast(
        prefix_tokens=prefix_tokens,
        block_tokens=iter(tokens),
        output_tokens=iter(outputs),
        prices=prices.for_model(profile.id),
        context_window=profile.context_window,
        max_output=answer_room(profile),
        min_cacheable=profile.min_cacheable,
        bounds=PackBounds(min_blocks=low, max_blocks=high),
        output_cap=output_cap(profile),
    )


def estimate_job(
    spec: JobSpec,
    profile: ModelProfile,
    prices: PriceTable,
    *,
    only: Collection[str] | None = None,
    learned: Mapping[str, float] | None = None,
) -> Estimate:
    """``only``: the ids of the blocks this model gets (a routed run's tier), None for all;
    ``learned``: output estimates a run of this model stored (``learned_output``)."""
    inputs, blocks, task, check = read_job_inputs(spec)
    findings = check.findings(inputs.documents, {b.id for b in blocks}) if check else {}
    figures = BlockFigures.of(blocks, findings, task, profile, learned)
    tokens, outputs = figures.tokens, figures.outputs

    def rows_for(indices: Iterable[int]) -> list[ForecastRow]:
        chosen = array("I", indices)
        return forecast_packs(
            figures.prefix, [tokens[i] for i in chosen], [outputs[i] for i in chosen],
            profile, prices, spec.execution.min_blocks, spec.execution.max_blocks,
        )  # fmt: skip

    position = {block.id: index for index, block in enumerate(blocks)}
    kept, _ = prefilter(blocks, spec.prefilter)
    reuse = plan_reuse(kept)
    distinct = [position[block.id] for block in reuse.to_send]
    to_model = [index for index in distinct if only is None or blocks[index].id in only]
    to_model = to_model if task.needs_model else []

    baseline = rows_for(range(len(blocks)))[0]
    rows = [baseline]
    rows.append(
        _as(rows_for(position[block.id] for block in kept)[0], Strategy.PREFILTERED, baseline)
    )
    rows.append(_as(rows_for(distinct)[0], Strategy.REUSED, baseline))
    final = rows_for(to_model)
    if check is not None:
        rows.append(_as(final[0], Strategy.RULES, baseline))
    rows += [_as(row, row.strategy, baseline) for row in final[1:]]
    sent = iter(to_model)
    context = None
    if spec.context is not ContextMode.FULL and to_model:
        guide = open_job_guide(spec, task)
        chosen = [blocks[index] for index in to_model]
        context, _ = choose_job_context(
            spec, task, guide, chosen, profile, prices, ContextMode.AUTO
        )
    return Estimate(
        rows=rows,
        blocks=len(blocks),
        kept=len(kept),
        distinct=len(distinct),
        to_model=len(to_model),
        packs=tuple(
            tuple(blocks[next(sent)].id for _ in range(size)) for size in final[-1].pack_sizes
        ),
        copies=tuple(block.id for block in reuse.copies),
        context=context,
    )


async def learned_output(run_dir: Path, lane: str) -> dict[str, float]:
    """The output estimates the run in ``run_dir`` stored for ``lane`` (none when it has
    none yet); a folder without a run is an error."""
    if not (run_dir / RUN_FILE_NAME).is_file():
        raise UserInputError(f"{run_dir}: no run here to learn output estimates from")
    store = await open_sqlite_store(run_dir)
    try:
        return dict(await store.output_estimates(lane))
    finally:
        await store.close()


def _as(row: ForecastRow, strategy: Strategy, baseline: ForecastRow) -> ForecastRow:
    total = row.cost.total
    return replace(
        row, strategy=strategy, ratio=float(baseline.cost.total / total) if total else None
    )
