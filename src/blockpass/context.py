"""What of the reference material a request carries: the whole guide, or the rule units
retrieved for its pack.

In retrieve mode the cached prefix holds the instructions, the schema and the core units
(``Task.for_retrieval``); after its breakpoint, each pack carries the units retrieved for its
blocks, deduplicated, in the reference material's reading order (``PackContexts``):

- Each block gets its top ``k`` units (``rag.RuleIndex``: triggers, BM25 and dense ranks,
  fused). Retrieval is unsure of a block when units whose trigger certainly fired were cut
  off at ``k``, or when BM25 and dense retrieval share nothing in their top ``k``; such a
  block is retrieved again at ``wide_k`` (*widened*).
- A block still unsure at ``wide_k`` makes its pack fall back: to the whole guide, where it
  fits beside the pack (one context part for every such pack, with its own breakpoint, so
  it is cached after the first), or else to the core and the best units that fit.
- Blocks are ordered for packing so that blocks with the same best unit share packs, and
  the blocks that fall back share theirs: context parts repeat less.
- A pack whose retrieved units do not all fit beside it keeps the best-ranked ones; the
  units left out are counted (*trimmed*).

Everything that happens is counted in ``ContextStats`` for the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from blockpass.blocks import Block

__all__ = [
    "NO_CONTEXT",
    "BlockRules",
    "ContextMode",
    "ContextStats",
    "Fallback",
    "PackContext",
    "PackContexts",
    "RetrievalSettings",
    "RetrievedRules",
    "render_units",
    "retrieve_block_rules",
]


class ContextMode(StrEnum):
    """``full``: the whole guide in the cached prefix; ``retrieve``: core units in the
    prefix, retrieved units per pack; ``auto``: whichever ``estimate`` prices lower."""

    FULL = "full"
    RETRIEVE = "retrieve"
    AUTO = "auto"


class Fallback(StrEnum):
    FULL_GUIDE = "full guide"
    WIDEST_FIT = "core and the widest K that fits"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievalSettings:
    k: int = 5
    wide_k: int = 15

    def __post_init__(self) -> None:
        if not 1 <= self.k <= self.wide_k:
            raise ValueError(f"retrieval needs 1 <= k <= wide_k, not {self.k} and {self.wide_k}")


class Unit(Protocol):
    """A rule unit as a prompt needs it (``rag.RuleUnit`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...


class Confidence(Protocol):
    @property
    def agreement(self) -> float: ...
    @property
    def triggered(self) -> int: ...
    @property
    def triggered_kept(self) -> int: ...


class Hit(Protocol):
    @property
    def unit(self) -> Unit: ...


class Retrieval(Protocol):
    @property
    def hits(self) -> Sequence[Hit]: ...
    @property
    def confidence(self) -> Confidence: ...


class Searcher(Protocol):
    """What retrieval needs of an index (``rag.RuleIndex`` is one)."""

    def search_many(self, texts: Sequence[str], k: int) -> Sequence[Retrieval]: ...


@dataclass(frozen=True, slots=True)
class BlockRules:
    """The units retrieved for one block, best first, core units left out."""

    ranked: tuple[str, ...]
    widened: bool = False
    unsure: bool = False


def _cut_off(retrieval: Retrieval) -> bool:
    """Units whose trigger certainly fired were left out at this K."""
    confidence = retrieval.confidence
    return confidence.triggered_kept < confidence.triggered


def _unsure(retrieval: Retrieval) -> bool:
    confidence = retrieval.confidence
    return _cut_off(retrieval) or (confidence.agreement == 0.0 and confidence.triggered == 0)


def retrieve_block_rules(
    searcher: Searcher,
    blocks: Sequence[Block],
    settings: RetrievalSettings,
    *,
    core: Iterable[str] = (),
) -> dict[str, BlockRules]:
    """Each block's units by block id: top ``k``; top ``wide_k`` where ``k`` was unsure; and
    where even ``wide_k`` cut off units whose trigger fired, as many as keep them all."""
    in_core = frozenset(core)

    def ranked(retrieval: Retrieval) -> tuple[str, ...]:
        return tuple(hit.unit.id for hit in retrieval.hits if hit.unit.id not in in_core)

    def search(chosen: Sequence[Block], k: int) -> list[tuple[Block, Retrieval]]:
        found = searcher.search_many([block.text for block in chosen], k)
        return list(zip(chosen, found, strict=True))

    first = search(blocks, settings.k)
    rules = {block.id: BlockRules(ranked(retrieval)) for block, retrieval in first}
    unsure = [block for block, retrieval in first if _unsure(retrieval)]
    if not unsure or settings.wide_k == settings.k:
        for block in unsure:
            rules[block.id] = BlockRules(rules[block.id].ranked, unsure=True)
        return rules
    wide = search(unsure, settings.wide_k)
    for block, retrieval in wide:
        rules[block.id] = BlockRules(ranked(retrieval), widened=True, unsure=_unsure(retrieval))
    crowded = [(block, retrieval) for block, retrieval in wide if _cut_off(retrieval)]
    for block, retrieval in crowded:
        (_, complete), *_ = search([block], retrieval.confidence.triggered + settings.k)
        rules[block.id] = BlockRules(ranked(complete), widened=True, unsure=_unsure(complete))
    return rules


def render_units(units: Iterable[Unit]) -> str:
    """Units as a prompt carries them: one ``<rule>`` element each, named by its stable id."""
    return "\n".join(
        f'<rule id="{unit.id}" title="{_attribute(unit.title)}">\n{unit.text}\n</rule>'
        for unit in units
    )


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("\n", " ")


@dataclass(frozen=True, slots=True)
class PackContext:
    """What one pack carries after the prefix's breakpoint. ``cached``: the text recurs in
    other packs (the whole guide of a fallback) and gets its own breakpoint."""

    text: str = ""
    tokens: int = 0
    units: tuple[str, ...] = ()
    fallback: Fallback | None = None
    cached: bool = False


NO_CONTEXT = PackContext()


@dataclass(slots=True)
class ContextStats:
    """What retrieval did in one run, by block (a block retried counts once)."""

    blocks: set[str] = field(default_factory=set)
    widened: set[str] = field(default_factory=set)
    fallback: dict[Fallback, set[str]] = field(default_factory=dict)
    trimmed_units: int = 0
    packs: int = 0
    units_sent: int = 0

    @classmethod
    def merged(cls, lanes: Iterable[ContextStats | None]) -> ContextStats | None:
        """One run's counts from its lanes'; None when no lane retrieved anything."""
        counted = [stats for stats in lanes if stats is not None]
        if not counted:
            return None
        merged = cls()
        for stats in counted:
            merged.blocks |= stats.blocks
            merged.widened |= stats.widened
            for kind, ids in stats.fallback.items():
                merged.fallback.setdefault(kind, set()).update(ids)
            merged.trimmed_units += stats.trimmed_units
            merged.packs += stats.packs
            merged.units_sent += stats.units_sent
        return merged

    def to_json(self) -> dict[str, object]:
        return {
            "blocks": len(self.blocks),
            "widened": len(self.widened),
            "fallback": {kind.value: len(ids) for kind, ids in sorted(self.fallback.items())},
            "trimmed_units": self.trimmed_units,
            "packs": self.packs,
            "units_per_pack": round(self.units_sent / self.packs, 1) if self.packs else 0,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievedRules:
    """A run's retrieval, the same for every lane: the units, each block's, and the whole
    guide for fallbacks; ``contexts`` lays it out for one lane's tokenizer."""

    units: Sequence[Unit]
    rules: Mapping[str, BlockRules]
    full_guide: str

    def contexts(self, count: Callable[[str], int]) -> PackContexts:
        return PackContexts(
            units=self.units, rules=self.rules, full_guide=self.full_guide, count=count
        )


class PackContexts:
    """The context of each pack of one lane, from its blocks' retrieved units.

    ``units``: every unit of the reference material in reading order (the order a pack's
    units are written in); ``full_guide``: the whole guide as a context part, for packs
    that fall back; ``count``: the lane's tokenizer.
    """

    def __init__(
        self,
        *,
        units: Sequence[Unit],
        rules: Mapping[str, BlockRules],
        full_guide: str,
        count: Callable[[str], int],
    ) -> None:
        self._units = {unit.id: unit for unit in units}
        self._order = {unit.id: position for position, unit in enumerate(units)}
        self._rules = rules
        self._count = count
        self._unit_tokens: dict[str, int] = {}
        self._full_guide = PackContext(
            text=full_guide, tokens=count(full_guide), fallback=Fallback.FULL_GUIDE, cached=True
        )
        self.stats = ContextStats()

    def groups(self, blocks: Sequence[Block]) -> list[list[Block]]:
        """Blocks grouped for packing: the blocks retrieval is sure of, ordered by their best
        unit, then apart the unsure ones (whose packs fall back); input order within each."""

        def best(block: Block) -> int:
            ranked = self._rules.get(block.id, BlockRules(())).ranked
            return self._order.get(ranked[0], -1) if ranked else -1

        sure = [block for block in blocks if not self._rules.get(block.id, BlockRules(())).unsure]
        unsure = [block for block in blocks if self._rules.get(block.id, BlockRules(())).unsure]
        return [group for group in (sorted(sure, key=best), unsure) if group]

    def for_pack(self, blocks: Sequence[Block], room: int) -> PackContext:
        """The context of a pack of ``blocks`` with ``room`` tokens left beside them."""
        rules = [self._rules.get(block.id, BlockRules(())) for block in blocks]
        self._count_blocks(blocks, rules)
        if any(rule.unsure for rule in rules):
            if self._full_guide.tokens <= room:
                self._count_fallback(Fallback.FULL_GUIDE, blocks)
                return self._counted(self._full_guide)
            context = self._best_fitting(rules, room)
            self._count_fallback(Fallback.WIDEST_FIT, blocks)
            return self._counted(
                PackContext(context.text, context.tokens, context.units, Fallback.WIDEST_FIT)
            )
        return self._counted(self._best_fitting(rules, room))

    def _best_fitting(self, rules: Sequence[BlockRules], room: int) -> PackContext:
        """The pack's units, best rank first across its blocks, while they fit."""
        best_rank: dict[str, int] = {}
        for rule in rules:
            for rank, unit_id in enumerate(rule.ranked):
                if rank < best_rank.get(unit_id, len(rule.ranked) + 1):
                    best_rank[unit_id] = rank
        kept: list[str] = []
        used = self._count(wrap_retrieved(""))
        for unit_id in sorted(best_rank, key=lambda u: (best_rank[u], self._order.get(u, 0))):
            tokens = self._tokens(unit_id)
            if used + tokens <= room:
                kept.append(unit_id)
                used += tokens
        self.stats.trimmed_units += len(best_rank) - len(kept)
        kept.sort(key=lambda unit_id: self._order.get(unit_id, 0))
        if not kept:
            return NO_CONTEXT
        text = wrap_retrieved(render_units(self._units[unit_id] for unit_id in kept))
        return PackContext(text=text, tokens=self._count(text), units=tuple(kept))

    def _tokens(self, unit_id: str) -> int:
        if unit_id not in self._unit_tokens:
            self._unit_tokens[unit_id] = self._count(render_units([self._units[unit_id]])) + 1
        return self._unit_tokens[unit_id]

    def _count_blocks(self, blocks: Sequence[Block], rules: Sequence[BlockRules]) -> None:
        self.stats.blocks.update(block.id for block in blocks)
        self.stats.widened.update(
            block.id for block, rule in zip(blocks, rules, strict=True) if rule.widened
        )

    def _count_fallback(self, kind: Fallback, blocks: Sequence[Block]) -> None:
        self.stats.fallback.setdefault(kind, set()).update(block.id for block in blocks)

    def _counted(self, context: PackContext) -> PackContext:
        self.stats.packs += 1
        self.stats.units_sent += len(context.units)
        return context


RETRIEVED_OPEN = "<retrieved_rules>"
RETRIEVED_CLOSE = "</retrieved_rules>"


def wrap_retrieved(rendered: str) -> str:
    return f"{RETRIEVED_OPEN}\n{rendered}\n{RETRIEVED_CLOSE}"
