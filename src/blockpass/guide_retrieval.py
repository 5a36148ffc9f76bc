"""Retrieve mode for a job: the guide's rule index, its core, and each block's rules.

``open_guide_index`` reads the guide into rule units (``rag``), opens (or builds, once per
corpus) its index, picks the core and makes the retrieve-mode task: the core in the cached
prefix, the index's corpus and the retrieval settings in the fingerprint, so results made
with retrieval are never taken for whole-guide results or the other way round.

The core is the units a user names (``--core``), or by default the guide's short top-level
sections: rules that apply everywhere, cheap to cache once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from blockpass.context import RetrievalSettings, render_units
from blockpass.errors import UserInputError
from blockpass.rag import MiniLmEmbedder, RuleIndex, RuleUnit, guide_units, open_index
from blockpass.task import Task

__all__ = ["GuideIndex", "default_core", "open_guide_index"]

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
        task=task.with_core(render_units(chosen), retrieval),
        full_guide=task.guide_part,
    )
