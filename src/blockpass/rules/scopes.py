"""Vale scopes: which rules read which piece of a document.

Vale lints a document as a sequence of scoped texts. Each carries a selector made of
dotted sections, for example ``text.heading.h2.md`` for an ``h2`` heading of a Markdown
file, ``text.list.md`` for a list item, ``text.md`` for a paragraph. A rule's ``scope`` is a
list of alternatives; each alternative is one or more selectors joined by ``&``; a selector
may be negated with a leading ``~``. A selector holds for a text when all of its sections
are among the text's sections (``scope: heading`` reads every heading, ``heading.h1`` only
the top level, ``text`` every prose text, headings included).

Sentences (and, for paragraphs, the paragraph itself) are cut from a text as *fragments*:
a fragment has its parent's sections plus ``sentence`` (or ``paragraph``), and only rules
whose scope names that word read it, so that a ``text`` rule does not see the same words
twice (Vale's ``Scope.Matches`` does the same for sentences).

``raw`` is the whole source, ``summary`` the prose paragraphs joined by blank lines; both
are read only by rules that name them (a negated selector never matches them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FRAGMENTS", "Scope", "ScopedText", "Selector", "parse_scope"]

# Cut from a parent text; read only by rules that ask for them by name.
FRAGMENTS = ("sentence", "paragraph")
_SIZED = frozenset({"raw", "summary"})


@dataclass(frozen=True, slots=True)
class Selector:
    sections: frozenset[str]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Scope:
    """A rule's scope: it matches a text when any alternative holds for it."""

    alternatives: tuple[tuple[Selector, ...], ...]

    @property
    def names(self) -> frozenset[str]:
        """Every section named without negation, e.g. to see whether sentences are needed."""
        return frozenset(
            s
            for parts in self.alternatives
            for part in parts
            if not part.negated
            for s in part.sections
        )

    def matches(self, sections: frozenset[str], fragment: str = "") -> bool:
        for parts in self.alternatives:
            if fragment and not any(fragment in p.sections and not p.negated for p in parts):
                continue
            if all(_holds(part, sections) for part in parts):
                return True
        return False


def _holds(part: Selector, sections: frozenset[str]) -> bool:
    contained = part.sections <= sections
    if part.negated:
        return not contained and not (sections & _SIZED)
    return contained


def parse_scope(values: Sequence[str]) -> Scope:
    alternatives = []
    for value in values or ("text",):
        parts = []
        for piece in value.split("&"):
            piece = piece.strip()
            negated = piece.startswith("~")
            names = frozenset(s.strip() for s in piece.lstrip("~").split(".") if s.strip())
            parts.append(Selector(names, negated))
        alternatives.append(tuple(parts))
    return Scope(tuple(alternatives))


@dataclass(frozen=True, slots=True)
class ScopedText:
    """Text a rule reads, with where each of its characters came from.

    ``offsets[i]`` is the character offset in the source (the decoded document, or the
    block's own text for documents without positions) of ``text[i]``; it has one more entry,
    for the end. Masked code keeps its length (as ``*``), so offsets stay one per character.
    """

    sections: frozenset[str]
    text: str
    offsets: Sequence[int]
    fragment: str = ""
    block_id: str = ""

    def source_offset(self, index: int) -> int:
        return self.offsets[min(max(index, 0), len(self.offsets) - 1)]

    def cut(self, start: int, end: int, fragment: str) -> ScopedText:
        return ScopedText(
            sections=self.sections | {fragment},
            text=self.text[start:end],
            offsets=self.offsets[start : end + 1],
            fragment=fragment,
            block_id=self.block_id,
        )
