"""Blocks into packs for one model and one prefix, shrinking the packs of blocks that failed.

A block starts in a full-size pack. A block whose pack came back truncated, malformed or
refused goes into a pack half the size of the group it came back with, so a pack that is
too much for one answer gets smaller until it fits. Output estimates per block kind are
learned from the results that come back (``packing.OutputEstimator``), with the rule
engine's hits on each block (``know``), whose proposals its pack carries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from blockpass.blocks import Block, BlockResult
from blockpass.context import ContextStats, PackContexts
from blockpass.deterministic import NO_FINDINGS, Findings
from blockpass.errors import UserInputError
from blockpass.layout import answer_room, output_cap
from blockpass.packing import (
    OutputEstimator,
    Pack,
    PackLimits,
    batch_pack_bound,
    block_input_tokens,
    pack_id,
    pack_size_bounds,
    plan_packs,
)
from blockpass.proposals import proposal_lines
from blockpass.providers.base import CacheTtl, ModelProfile
from blockpass.verdicts import RuleCodes, compact_item, full_item

__all__ = ["PackPlanner"]


class PackPlanner:
    def __init__(
        self,
        *,
        profile: ModelProfile,
        prefix_tokens: int,
        min_blocks: int,
        max_blocks: int | None,
        count: Callable[[str], int],
        contexts: PackContexts | None = None,
        codes: RuleCodes | None = None,
        output_scale: float = 1.0,
    ) -> None:
        """``contexts``: the retrieved rules each pack carries (retrieve mode); the blocks
        of a pack then take at most half the input budget, leaving the rest to them. Where
        ``profile``'s model caches, the units many packs carry are shared (``PackContexts.
        share``). ``codes``: answers are compact, citing these (their items are what output
        costs); ``output_scale``: what the answer format writes per block against the full one."""
        self._count = count
        self._codes = codes
        self._contexts = contexts
        self._profile = profile
        self._prefix_tokens = prefix_tokens
        self._estimator = OutputEstimator(scale=output_scale)
        self._pack_size: dict[str, int] = {}
        self._findings: dict[str, Findings] = {}
        kept = answer_room(profile)
        input_budget = profile.context_window - prefix_tokens - kept
        if input_budget <= 0:
            raise UserInputError(
                f"the guide and instructions ({prefix_tokens:,} tokens) do not fit "
                f"{profile.id}'s context window ({profile.context_window:,} tokens, "
                f"{kept:,} of them kept for the answer): shorten the guide or "
                "choose a model with a larger context window"
            )
        low, high = pack_size_bounds(profile, min_blocks, max_blocks)
        self.limits = PackLimits(
            input_budget=input_budget,
            output_cap=output_cap(profile),
            min_blocks=low,
            max_blocks=high,
        )

    def know(self, findings: Mapping[str, Findings]) -> None:
        """The rule engine's findings on blocks to pack: their hits predict output, and
        their proposals go into the packs."""
        self._findings.update(findings)

    def _hits(self, block: Block) -> int:
        return self._findings.get(block.id, NO_FINDINGS).hits

    def estimate_output(self, block: Block) -> int:
        return self._estimator.estimate(block, self._hits(block))

    def input_tokens(self, block: Block) -> int:
        """A block's tokens in a pack: its text and tag, and its proposals' lines."""
        proposals = self._findings.get(block.id, NO_FINDINGS).proposals
        lines = "".join(f"b10 {line}\n" for line in proposal_lines(proposals))
        return block_input_tokens(block, self._count) + (self._count(lines) if lines else 0)

    @property
    def context_stats(self) -> ContextStats | None:
        """What retrieval did for this lane's packs; None when they carry no context."""
        return None if self._contexts is None else self._contexts.stats

    @property
    def shared_units(self) -> tuple[str, ...]:
        """The units this lane's packs share (retrieve mode, once its first plan is made)."""
        return () if self._contexts is None else self._contexts.shared_units

    def too_large(self, blocks: Sequence[Block]) -> dict[str, int]:
        """Input tokens of each block that cannot fit a request beside the prefix, by id."""
        return {
            block.id: tokens
            for block in blocks
            if (tokens := self.input_tokens(block)) > self.limits.input_budget
        }

    def batch_pack_bound(self, backstop: int | None) -> int | None:
        """Blocks per batch pack for this model (``packing.batch_pack_bound``)."""
        return batch_pack_bound(self._profile, backstop)

    def plan(
        self,
        blocks: Sequence[Block],
        *,
        max_blocks: int | None = None,
        ttl: CacheTtl = CacheTtl.FIVE_MINUTES,
    ) -> list[Pack]:
        """Packs at full size, except blocks that were in a truncated or broken pack.

        ``max_blocks`` overrides the settings' bound (batch mode packs more per request);
        ``ttl``: how long the requests' cached parts live (batch requests: an hour), which
        prices a cache write against the reads it saves.
        """
        full = max_blocks or self.limits.max_blocks
        packs = self._grouped_packs(blocks, full)
        # A profile without a cacheable length (a local model, an unknown compatible server)
        # caches nothing that sharing could save.
        caches = self._profile.min_cacheable > 0
        if self._contexts is not None and self._contexts.share_pending and caches:
            # The first plan holds all the lane's blocks: what recurs across its packs is
            # sent once, cached, where every pack still holds it beside its blocks and its
            # own units; the blocks are then grouped again by the units they do not share.
            self._contexts.share(
                [pack.blocks for pack in packs],
                room=lambda pack: self.limits.input_budget - self._blocks_tokens(pack),
                min_tokens=self._profile.min_cacheable - self._prefix_tokens,
                ttl=ttl,
            )
            packs = self._grouped_packs(blocks, full)
        return [self._completed(pack) for pack in packs]

    def _blocks_tokens(self, blocks: Sequence[Block]) -> int:
        return sum(self.input_tokens(block) for block in blocks)

    def _grouped_packs(self, blocks: Sequence[Block], full: int) -> list[Pack]:
        if self._contexts is None:
            return self._plan_group(blocks, full)
        contexts = self._contexts
        # A pack's own part grows with every block's units: where they would not all fit
        # beside its blocks, it is cut where they stop fitting, so that no unit a block was
        # retrieved for is trimmed to make room for another block.
        return [
            self._bare_pack(run)
            for group in contexts.groups(blocks)
            for pack in self._plan_group(group, full)
            for run in contexts.fitting(
                pack.blocks, budget=self.limits.input_budget, block_tokens=self.input_tokens
            )
        ]

    def _plan_group(self, blocks: Sequence[Block], full: int) -> list[Pack]:
        by_size: dict[int, list[Block]] = {}
        for block in blocks:
            size = self._pack_size.get(block.id, full)
            by_size.setdefault(size, []).append(block)
        packs: list[Pack] = []
        for size, group in sorted(by_size.items(), reverse=True):
            limits = PackLimits(
                input_budget=self._block_budget,
                output_cap=self.limits.output_cap,
                min_blocks=min(self.limits.min_blocks, size),
                max_blocks=size,
            )
            packs += plan_packs(
                group,
                limits,
                input_tokens=self.input_tokens,
                estimate_output=self.estimate_output,
            )
        return packs

    @property
    def _block_budget(self) -> int:
        budget = self.limits.input_budget
        return budget if self._contexts is None else max(1, budget // 2)

    def _completed(self, pack: Pack) -> Pack:
        """The pack with its blocks' proposals and, in retrieve mode, its context."""
        proposals = tuple(self._findings.get(b.id, NO_FINDINGS).proposals for b in pack.blocks)
        if any(proposals):
            pack = replace(pack, proposals=proposals)
        if self._contexts is None:
            return pack
        room = self.limits.input_budget - pack.input_tokens
        context = self._contexts.for_pack(pack.blocks, room)
        return replace(pack, context=context, input_tokens=pack.input_tokens + context.all_tokens)

    def pack_of(self, blocks: Sequence[Block]) -> Pack:
        """The pack of these blocks in this order, as ``plan`` would have made it."""
        return self._completed(self._bare_pack(blocks))

    def _bare_pack(self, blocks: Sequence[Block]) -> Pack:
        return Pack(
            id=pack_id(blocks),
            blocks=tuple(blocks),
            input_tokens=self._blocks_tokens(blocks),
            estimated_output=sum(self.estimate_output(block) for block in blocks),
        )

    def shrink(self, blocks: Sequence[Block], *, came_back_with: int) -> None:
        """Next time, these blocks go in packs half the size of the group they came back
        in (``came_back_with`` blocks), or of their last pack size if that was smaller."""
        for block in blocks:
            current = self._pack_size.get(block.id, self.limits.max_blocks)
            self._pack_size[block.id] = max(1, min(current, came_back_with) // 2)

    def resume(self, pack_sizes: Mapping[str, int], tokens_by_kind: Mapping[str, float]) -> None:
        """Start from sizes and estimates learned before (stored by an earlier run of the
        lane, or another worker), not from full packs and defaults."""
        self._pack_size.update(pack_sizes)
        self._estimator.resume(tokens_by_kind)

    def pack_sizes(self, blocks: Sequence[Block]) -> dict[str, int]:
        """The smaller pack sizes these blocks have now (the ones still at full size left out)."""
        return {
            block.id: self._pack_size[block.id] for block in blocks if block.id in self._pack_size
        }

    def output_estimates(self) -> dict[str, float]:
        """What the planner learned of output, as the store keeps it per lane."""
        return self._estimator.stored_form()

    def learn(
        self, pack: Pack, results: dict[str, BlockResult], answer_tokens: int | None = None
    ) -> None:
        """Output estimates from the results a pack's answer held. ``answer_tokens``, the
        output a whole answer was measured at, spreads over its items by their rewritten
        lengths: rewriting cannot see the answer's wrapper, legend and separators, nor how
        the provider counts (without it, the rewritten lengths are taken as they are)."""
        items = {
            block.id: self._count(
                full_item(result) if self._codes is None else compact_item(result, self._codes)
            )
            for block in pack.blocks
            if (result := results.get(block.id)) is not None
        }
        rewritten = sum(items.values())
        scale = answer_tokens / rewritten if answer_tokens and rewritten else 1.0
        for block in pack.blocks:
            if block.id in items:
                self._estimator.observe(block, items[block.id] * scale, self._hits(block))
