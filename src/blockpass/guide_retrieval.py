"""Retrieve mode for a job: the guide's rule index, its core, and each block's rules.

``open_guide_index`` reads the guide into rule units (``rag``), opens (or builds, once per
corpus) its index, picks the core and makes the retrieve-mode task: the core in the cached
prefix, the index's corpus and the retrieval settings in the fingerprint, so results made
with retrieval are never taken for whole-guide results or the other way round.

The core is the units a user names (``--core``), or by default the guide's short top-level
sections: rules that apply everywhere, cheap to cache once.

``retrieve_block_rules`` gives each block its units:

- every *certain* one: its trigger fired (the block uses its term, matches its pattern, or
  shows the construction it is about), the block's kind is its topic (a heading and the
  guide's sections on headings), or both ranked retrievers (BM25 on the words, dense on the
  meaning) rank it first;
- and the best-ranked ``k`` others that are *close* to the block in meaning
  (``rag.index.CLOSE_SIMILARITY``: as close as a rule's own examples typically are to it).
  A unit nothing ties to a block is a pick from noise, paid in every pack that carries it,
  and it steers the model towards a rule the text is not about.

Confidence decides how far to look. Where no trigger fired, BM25 and dense retrieval share
nothing in their top ``k`` and something is close, the block gets ``wide_k`` close ones
(*widened*); more units close to it than ``wide_k`` holds, and retrieval is *unsure* of it:
its pack falls back (``context.PackContexts``). Disagreement alone is no sign of a miss:
it is what retrievers do on text the guide has nothing to say about.

Measured on the 782 labelled Red Hat cases (``bench/retrieval.py``) and the rust-book with
the Red Hat guide (``bench/context_cost.py``). Before these rules, a block got its triggered
units or, where none fired, its best ``k`` guesses, and it was unsure wherever the retrievers
disagreed: 12 cases' right section was missed, each beside a less specific glossary entry's
trigger (none of them unsure), and 362 rust-book blocks (headings such as "Refactoring",
captions, paragraphs on Rust's iterators) fell back to the whole guide, a third of the run's
cost. Now (with respelled terms, ``rag/triggers.py``) none of the 782 is missed, and no
rust-book block falls back. CLOSE_SIMILARITY is the median similarity of those labelled
cases to their sections: chosen on the same labels it is measured on, said plainly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from blockpass.blocks import Block, BlockKind
from blockpass.context import BlockRules, RetrievalSettings
from blockpass.errors import UserInputError
from blockpass.rag import MiniLmEmbedder, RuleIndex, RuleUnit, guide_units, open_index
from blockpass.rag.index import CLOSE_SIMILARITY
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
    kind_units: Mapping[BlockKind, tuple[str, ...]] = field(default_factory=dict)
    """The units every block of a kind gets (``units_about_kinds``)."""

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


# A block's kind is a construction too: a heading needs what the guide says about headings
# (sentence case, no end punctuation) whatever its words, and no retriever finds that in
# "Refactoring". Each kind's units are those whose own title names it.
KIND_TOPICS = {BlockKind.HEADING: frozenset({"heading", "headings"})}
_TITLE_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def units_about_kinds(units: Sequence[RuleUnit]) -> dict[BlockKind, tuple[str, ...]]:
    """For each kind in KIND_TOPICS, the units whose title names it: a guide's section
    "Titles and headings", a Vale rule ``Google.HeadingPunctuation``."""

    def title_words(unit: RuleUnit) -> set[str]:
        return {word.lower() for word in _TITLE_WORD.findall(unit.title)}

    return {
        kind: tuple(unit.id for unit in units if title_words(unit) & topic)
        for kind, topic in KIND_TOPICS.items()
    }


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
    # ``rules=2``: which units a block gets changed (agreement, closeness, kinds); results
    # retrieved under the old rules are not reused as if these had chosen their units.
    retrieval = (
        f"{index.path.name} rules=2 k={settings.k} wide_k={settings.wide_k}"
        f" core={','.join(unit.id for unit in chosen)}"
    )
    return GuideIndex(
        index=index,
        core=tuple(chosen),
        task=task.with_core(render_units(chosen, UnitLabels.of(units)), retrieval),
        full_guide=task.guide_part,
        kind_units=units_about_kinds(units),
    )


class Confidence(Protocol):
    @property
    def agreement(self) -> float: ...
    @property
    def triggered(self) -> int: ...
    @property
    def close(self) -> int: ...


class Hit(Protocol):
    @property
    def unit(self) -> Unit: ...
    @property
    def triggered(self) -> bool: ...
    @property
    def bm25_rank(self) -> int | None: ...
    @property
    def dense_rank(self) -> int | None: ...
    @property
    def dense_score(self) -> float: ...


class Retrieval(Protocol):
    @property
    def hits(self) -> Sequence[Hit]: ...
    @property
    def confidence(self) -> Confidence: ...


class Searcher(Protocol):
    """What retrieval needs of an index (``rag.RuleIndex`` is one)."""

    def search_many(self, texts: Sequence[str], k: int) -> Sequence[Retrieval]: ...


def _agreed(hit: Hit) -> bool:
    """Both ranked retrievers, one reading a text's words and the other its meaning, rank the
    unit first: as good as a trigger."""
    return not hit.triggered and hit.bm25_rank == 1 and hit.dense_rank == 1


def _disputed(retrieval: Retrieval) -> bool:
    """No trigger fired, and BM25 and dense retrieval share nothing in their top K."""
    confidence = retrieval.confidence
    return confidence.agreement == 0.0 and confidence.triggered == 0


def _unsure(retrieval: Retrieval, wide_k: int) -> bool:
    """Disputed while more units are close to the block than ``wide_k`` holds: the guide has
    more to say about it than a widened request carries, and no signal says which."""
    return _disputed(retrieval) and retrieval.confidence.close > wide_k


def retrieve_block_rules(
    searcher: Searcher,
    blocks: Sequence[Block],
    settings: RetrievalSettings,
    *,
    core: Iterable[str] = (),
    kind_units: Mapping[BlockKind, Sequence[str]] | None = None,
) -> dict[str, BlockRules]:
    """Each block's units by block id: every certain unit (its trigger fired, both ranked
    retrievers rank it first, or ``kind_units`` give it to every block of the block's kind),
    and the best-ranked ``k`` others that are close to it in meaning (``wide_k`` where the
    retrievers disagree); core units left out."""
    in_core = frozenset(core)
    by_kind = kind_units or {}

    def chosen(block: Block, retrieval: Retrieval, k: int) -> tuple[str, ...]:
        found = [hit.unit.id for hit in retrieval.hits if hit.triggered or _agreed(hit)]
        certain = list(dict.fromkeys([*by_kind.get(block.kind, ()), *found]))
        close = [
            hit.unit.id
            for hit in retrieval.hits
            if hit.dense_score >= CLOSE_SIMILARITY and hit.unit.id not in certain
        ]
        chosen_ids = [*certain, *[unit_id for unit_id in close if unit_id not in in_core][:k]]
        return tuple(unit_id for unit_id in chosen_ids if unit_id not in in_core)

    def search(chosen_blocks: Sequence[Block], k: int) -> list[tuple[Block, Retrieval]]:
        """Deep enough for ``k`` units past the core (the agreed one, ranked first by both
        retrievers, outranks all but the triggered ones) and every triggered one."""
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
    rules = {
        block.id: BlockRules(chosen(block, retrieval, settings.k)) for block, retrieval in first
    }
    disputed = [
        (block, retrieval)
        for block, retrieval in first
        if _disputed(retrieval) and retrieval.confidence.close and not by_kind.get(block.kind)
    ]
    if settings.wide_k == settings.k:
        for block, retrieval in disputed:
            rules[block.id] = replace(rules[block.id], unsure=_unsure(retrieval, settings.wide_k))
        return rules
    for block, retrieval in search([block for block, _ in disputed], settings.wide_k):
        rules[block.id] = BlockRules(
            chosen(block, retrieval, settings.wide_k),
            widened=True,
            unsure=_unsure(retrieval, settings.wide_k),
        )
    return rules
