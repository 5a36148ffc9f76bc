"""Whole guide or retrieved rules: what a job's requests carry, and why.

``--context full`` caches the whole guide in the prefix; ``retrieve`` caches its core and
sends each pack the units retrieved for it; ``auto`` prices both on the job's own blocks and
picks the cheaper, or retrieval when the whole guide does not fit the model at all. Both are
priced the same way (``price_packs``): the packs the runner would send (``PackPlanner``, the
same planner, with and without retrieved context), the prefix written once and read after,
a context that recurs (the whole guide of a fallback) likewise, the rest uncached, output at
the planner's estimate. Real usage is what the report prices; this only chooses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial

from blockpass.blocks import Block
from blockpass.context import ContextMode, RetrievalSettings, RetrievedRules
from blockpass.execution.planning import PackPlanner
from blockpass.guide_retrieval import GuideIndex, retrieve_block_rules
from blockpass.layout import answer_room
from blockpass.ledger import price_usage
from blockpass.packing import Pack
from blockpass.prices import ModelPrices
from blockpass.providers.base import CacheTtl, ModelProfile
from blockpass.task import Task
from blockpass.tokens import count_tokens
from blockpass.usage import Usage

__all__ = ["BatchPacks", "ContextChoice", "choose_context", "price_packs", "retrieved_rules"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchPacks:
    """A job sent in provider batches, of packs up to ``max_blocks`` (None: the realtime
    bound)."""

    max_blocks: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContextChoice:
    """``mode`` is never ``auto``: it says what was chosen, ``reason`` why."""

    mode: ContextMode
    reason: str
    guide: GuideIndex | None = None
    full_usd: Decimal | None = None
    retrieve_usd: Decimal | None = None

    def task(self, whole: Task) -> Task:
        return whole if self.guide is None or self.mode is ContextMode.FULL else self.guide.task

    def summary(self) -> str:
        """One line: both modes' estimates where priced, and the choice."""
        priced = [
            f"{name} ${usd:.4f}"
            for name, usd in (
                ("whole guide", self.full_usd),
                ("retrieved rules", self.retrieve_usd),
            )
            if usd is not None
        ]
        prices = f"{', '.join(priced)}; " if priced else ""
        return f"context: {prices}{self.mode.value}: {self.reason}"

    def to_json(self) -> dict[str, object]:
        estimates = {
            name: None if usd is None else str(usd.quantize(Decimal("0.0001")))
            for name, usd in (("full", self.full_usd), ("retrieve", self.retrieve_usd))
        }
        return {"mode": self.mode.value, "reason": self.reason, "estimated_usd": estimates}


def retrieved_rules(
    guide: GuideIndex, blocks: Sequence[Block], settings: RetrievalSettings
) -> RetrievedRules:
    """Each block's units (blocking: it embeds the blocks)."""
    return RetrievedRules(
        units=guide.index.units,
        rules=retrieve_block_rules(
            guide.index, blocks, settings, core=guide.core_ids, kind_units=guide.kind_units
        ),
        full_guide=guide.full_guide,
    )


def price_packs(
    packs: Sequence[Pack],
    *,
    prefix_tokens: int,
    profile: ModelProfile,
    prices: ModelPrices,
    batch: bool = False,
) -> Decimal:
    """Cost of sending ``packs`` after a prefix of ``prefix_tokens``: the prefix, and each
    context part with its own breakpoint (the shared units, a fallback's whole guide),
    written to the cache the first time and read after, where the prompt up to it is long
    enough for ``profile``'s model to cache it. ``batch``: as batch requests (their prices,
    and an hour-long cache, primed by the first request)."""
    total = Decimal(0)
    written: set[str] = set()
    for pack in packs:
        context = pack.context
        breakpoints = [(prefix_tokens, "")]
        if context.shared.text:
            breakpoints.append((context.shared.tokens, context.shared.text))
        if context.cached:
            breakpoints.append((context.tokens, context.text))
        uncached = pack.input_tokens - sum(tokens for tokens, _ in breakpoints[1:])
        write = read = 0
        reach = 0
        for tokens, text in breakpoints:
            reach += tokens
            if reach < profile.min_cacheable:
                uncached += tokens
            elif text in written:
                read += tokens
            else:
                write += tokens
                written.add(text)
        usage = Usage(
            uncached_input=uncached, cache_write_5m=0 if batch else write,
            cache_write_1h=write if batch else 0, cache_read=read, output=pack.estimated_output,
        )  # fmt: skip
        prompt = prefix_tokens + pack.input_tokens
        total += price_usage(usage, prices, batch=batch, long=prices.is_long(prompt)).total
    return total


def choose_context(
    requested: ContextMode,
    *,
    whole: Task,
    guide: GuideIndex,
    blocks: Sequence[Block],
    profile: ModelProfile,
    prices: ModelPrices,
    settings: RetrievalSettings,
    planner: Callable[..., PackPlanner],
    batch: BatchPacks | None = None,
) -> tuple[ContextChoice, RetrievedRules | None]:
    """The mode for ``requested`` (``retrieve`` or ``auto``) and, when retrieval was run to
    decide, its result for ``blocks``. ``planner(prefix_tokens=..., count=..., contexts=...)``
    makes the runner's planner for ``profile``; ``batch``: the job is sent in batches,
    priced as such."""
    count = partial(count_tokens, family=profile.tokenizer)
    full_prefix = count(whole.system_prefix)
    fits = full_prefix + answer_room(profile) < profile.context_window
    if requested is ContextMode.RETRIEVE:
        return ContextChoice(mode=requested, reason="asked for", guide=guide), None
    if not fits:
        reason = (
            f"the whole guide ({full_prefix:,} tokens) and room for an answer"
            f" ({answer_room(profile):,}) do not fit {profile.id}'s context window"
            f" ({profile.context_window:,})"
        )
        return ContextChoice(mode=ContextMode.RETRIEVE, reason=reason, guide=guide), None
    retrieved = retrieved_rules(guide, blocks, settings)
    core_prefix = count(guide.task.system_prefix)
    plan = partial(
        PackPlanner.plan,
        max_blocks=None if batch is None else batch.max_blocks,
        ttl=CacheTtl.FIVE_MINUTES if batch is None else CacheTtl.ONE_HOUR,
    )
    priced = partial(price_packs, profile=profile, prices=prices, batch=batch is not None)
    full_usd = priced(
        plan(planner(prefix_tokens=full_prefix, count=count), blocks), prefix_tokens=full_prefix
    )
    retrieve_planner = planner(
        prefix_tokens=core_prefix, count=count, contexts=retrieved.contexts(count)
    )
    retrieve_usd = priced(plan(retrieve_planner, blocks), prefix_tokens=core_prefix)
    mode = ContextMode.RETRIEVE if retrieve_usd < full_usd else ContextMode.FULL
    reason = (
        f"estimated ${retrieve_usd:.4f} with retrieved rules against ${full_usd:.4f} with the "
        f"whole guide cached, for {len(blocks):,} blocks on {profile.id}"
        f"{'' if batch is None else ' in batches'}"
    )
    choice = ContextChoice(
        mode=mode, reason=reason, guide=guide, full_usd=full_usd, retrieve_usd=retrieve_usd
    )
    return choice, retrieved if mode is ContextMode.RETRIEVE else None
