"""Retrieve mode for a job: the guide's rule index, its core, and each block's rules.

``open_guide_index`` reads the guide into rule units (``rag``), opens (or builds, once per
corpus) its index, picks the core and makes the retrieve-mode task: the core in the cached
prefix, the index's corpus and the retrieval settings in the fingerprint, so results made
with retrieval are never taken for whole-guide results or the other way round.

The core is the units a user names (``--core``), or by default the guide's short top-level
sections: rules that apply everywhere, cheap to cache once.

``retrieve_block_rules`` gives each block its units: every unit whose trigger certainly
fired (the block uses its term, matches its pattern, or shows the construction it is about)
or, where none did, the best ``k`` others past the core: ranked guesses are for the blocks
retrieval knows nothing certain of. Each guess is paid in every pack that carries it: on
the rust-book with the Red Hat guide, guesses beside certain units cost about a quarter of
what the rules sent cost (mostly long sections on topics the text is not about, such as
writing release notes), while the guide-linked findings came with the certain units
(``bench/context_cost.py``; chosen on that bench). Retrieval is unsure of a block when no trigger
fired and BM25 and dense retrieval share nothing in their top ``k``: it gets the best
``wide_k`` others (*widened*), and a block still unsure then makes its pack fall back
(``context.PackContexts``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from blockpass.blocks import Block
from blockpass.context import BlockRules, RetrievalSettings
from blockpass.errors import UserInputError
from blockpass.rag import MiniLmEmbedder, RuleIndex, RuleUnit, guide_units, open_index
from blockpass.task import Task
from blockpass.unit_framing import Unit, UnitLabels, render_units

__all__ = [
    "GuideIndex",
    "Searcher",
    "default_core",
    "open_guide_index",
    "retrieve_block_rules",
]

# A default core unit: a top-level section (level 0 or 1) of at most this many words; the
# core as a whole stays under CORE_WORDS.
CORE_UNIT_WORDS = 80
CORE_WORDS = 600


@dataclass(frozen=True, slots=True, kw_only=True)
class GuideIndex:
    index: RuleIndex
    core: tuple[RuleUnit, ...]
    task: Task
    """The retrieve-mode task: the core in the prefix."""
    full_guide: str
    """The whole guide as a request carries it, for packs that fall back to it."""

    @property
    def core_ids(self) -> tuple[str, ...]:
        return tuple(unit.id for unit in self.core)


def default_core(units: Sequence[RuleUnit]) -> list[RuleUnit]:
    core: list[RuleUnit] = []
    words = 0
    for unit in units:
        size = len(unit.text.split())
        if unit.level <= 1 and size <= CORE_UNIT_WORDS and words + size <= CORE_WORDS:
            core.append(unit)
            words += size
    return core


def open_guide_index(
    task: Task,
    guide: Path,
    *,
    cache_dir: Path,
    settings: RetrievalSettings,
    core: Sequence[str] = (),
    on_build: Callable[[int], None] | None = None,
) -> GuideIndex:
    """``task``: the whole-guide task of the job; ``core``: unit ids the user marks as core
    (none: ``default_core``). Blocking (it may embed the guide): run it in a thread."""
    units = guide_units(guide)
    by_id = {unit.id: unit for unit in units}
    unknown = [unit_id for unit_id in core if unit_id not in by_id]
    if unknown:
        raise UserInputError(
            f"--core names no section of {guide}: {', '.join(unknown)} (`blockpass rules"
            " search` shows the ids)"
        )
    chosen = [by_id[unit_id] for unit_id in dict.fromkeys(core)] if core else default_core(units)
    index = open_index(units, cache_dir=cache_dir, embedder=MiniLmEmbedder(), on_build=on_build)
    retrieval = (
        f"{index.path.name} k={settings.k} wide_k={settings.wide_k}"
        f" core={','.join(unit.id for unit in chosen)}"
    )
    return GuideIndex(
        index=index,
        core=tuple(chosen),
        task=task.with_core(render_units(chosen, UnitLabels.of(units)), retrieval),
        full_guide=task.guide_part,
    )


class Confidence(Protocol):
    @property
    def agreement(self) -> float: ...
    @property
    def triggered(self) -> int: ...


class Hit(Protocol):
    @property
    def unit(self) -> Unit: ...
    @property
    def triggered(self) -> bool: ...


class Retrieval(Protocol):
    @property
    def hits(self) -> Sequence[Hit]: ...
    @property
    def confidence(self) -> Confidence: ...


class Searcher(Protocol):
    """What retrieval needs of an index (``rag.RuleIndex`` is one)."""

    def search_many(self, texts: Sequence[str], k: int) -> Sequence[Retrieval]: ...


def _unsure(retrieval: Retrieval) -> bool:
    """No trigger fired, and BM25 and dense retrieval share nothing in their top K."""
    confidence = retrieval.confidence
    return confidence.agreement == 0.0 and confidence.triggered == 0


def retrieve_block_rules(
    searcher: Searcher,
    blocks: Sequence[Block],
    settings: RetrievalSettings,
    *,
    core: Iterable[str] = (),
) -> dict[str, BlockRules]:
    """Each block's units by block id: every unit whose trigger fired (certain: the block
    uses its term, or shows its construction) or, where none did, the best ``k`` others;
    the best ``wide_k`` others where retrieval was unsure at ``k``."""
    in_core = frozenset(core)

    def chosen(retrieval: Retrieval, k: int) -> tuple[str, ...]:
        certain = [hit.unit.id for hit in retrieval.hits if hit.triggered]
        others = [hit.unit.id for hit in retrieval.hits if not hit.triggered]
        sure = tuple(unit_id for unit_id in certain if unit_id not in in_core)
        best = [unit_id for unit_id in others if unit_id not in in_core][: 0 if sure else k]
        return sure + tuple(best)

    def search(chosen_blocks: Sequence[Block], k: int) -> list[tuple[Block, Retrieval]]:
        """Deep enough for ``k`` units past the core and every certain one."""
        reach = k + len(in_core)
        texts = [block.text for block in chosen_blocks]
        found = list(zip(chosen_blocks, searcher.search_many(texts, reach), strict=True))
        crowded = [(block, r.confidence.triggered) for block, r in found if r.confidence.triggered]
        if crowded:
            deeper = reach + max(triggered for _, triggered in crowded)
            again = searcher.search_many([block.text for block, _ in crowded], deeper)
            by_id = {
                block.id: retrieval for (block, _), retrieval in zip(crowded, again, strict=True)
            }
            found = [(block, by_id.get(block.id, retrieval)) for block, retrieval in found]
        return found

    first = search(blocks, settings.k)
    rules = {block.id: BlockRules(chosen(retrieval, settings.k)) for block, retrieval in first}
    unsure = [block for block, retrieval in first if _unsure(retrieval)]
    if not unsure or settings.wide_k == settings.k:
        for block in unsure:
            rules[block.id] = BlockRules(rules[block.id].ranked, unsure=True)
        return rules
    for block, retrieval in search(unsure, settings.wide_k):
        rules[block.id] = BlockRules(
            chosen(retrieval, settings.wide_k), widened=True, unsure=_unsure(retrieval)
        )
    return rules
