"""A cheap necessary condition for a pattern to match: Vale's ``MightMatch``, in Python.

From a pattern's tree (``patterns.parse_pattern``) we derive groups of lowercase literals such
that any text the pattern matches contains one literal of every group. Most rules then never
run their regex on a block: the block lacks every literal of some group.

Style packages are full of long word lists (clichés, wordy phrases, adverbs), so checking a
few hundred substrings per block would cost more than it saves. Where the pattern guarantees
that a literal holds a whole word (``\\b`` at its edge, or a space or punctuation inside it),
only the literals whose word is among the block's words are searched: one set intersection
per group, and a handful of substring searches. Other literals are always searched.

The analysis is sound, never complete: where it is unsure it says nothing and the rule runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from blockpass.rules.patterns import (
    Group,
    Lit,
    Node,
    Repeat,
    UnsupportedSyntax,
    Zero,
    parse_pattern,
)

__all__ = ["LiteralFilter", "LiteralGroup", "PreparedText", "fold_case", "literal_filter"]

# Characters that re's IGNORECASE matches to an ASCII letter although str.lower() does not
# turn them into one; folding them keeps the filter a necessary condition.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})
# Any character outside [a-z0-9_] ends a word here, which splits at least wherever \w+ would:
# a whole word of a literal (always ASCII) is then always among these words.
_ASCII_WORD = re.compile(r"[a-z0-9_]+")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
# Marks a word boundary (`\b`) inside a literal; never compared against text.
_EDGE = "\x00"


def fold_case(text: str) -> str:
    # str.translate is slow; most text has none of the four characters.
    if not text.isascii() and any(c in text for c in "\u0130\u0131\u017f\u212a"):
        text = text.translate(_FOLD)
    return text.lower()


@dataclass(frozen=True, slots=True)
class PreparedText:
    """A block as the filter reads it, computed once per block for all rules."""

    folded: str
    words: frozenset[str]

    @classmethod
    def of(cls, text: str) -> PreparedText:
        folded = fold_case(text)
        return cls(folded, frozenset(_ASCII_WORD.findall(folded)))


@dataclass(frozen=True, slots=True)
class LiteralGroup:
    """Met when the text holds one of its literals.

    ``by_word`` files each literal that holds a whole word under that word, so only the
    literals whose word the text has are searched; ``substrings`` are searched always.
    """

    by_word: Mapping[str, tuple[str, ...]] = field(compare=False)
    substrings: tuple[str, ...]
    words: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", frozenset(self.by_word))

    def met_by(self, text: PreparedText) -> bool:
        for word in self.words.intersection(text.words):
            for literal in self.by_word[word]:
                if literal in text.folded:
                    return True
        return any(literal in text.folded for literal in self.substrings)


@dataclass(frozen=True, slots=True)
class LiteralFilter:
    groups: tuple[LiteralGroup, ...] = ()

    def might_match(self, text: PreparedText) -> bool:
        return all(group.met_by(text) for group in self.groups)


_Conjunction = list[frozenset[str]]  # every set must be met; a set is met by any member


def _is_boundary(node: Node) -> bool:
    return isinstance(node, Zero) and node.boundary


def _sequence(items: tuple[Node, ...], left: bool, right: bool) -> _Conjunction:
    conj: _Conjunction = []
    run: list[str] = [_EDGE] if left else []

    def flush() -> None:
        literal = "".join(run)
        if literal.replace(_EDGE, ""):
            conj.append(frozenset({literal.lower()}))
        run.clear()

    for k, item in enumerate(items):
        if isinstance(item, Lit):
            run.append(item.char)
        elif isinstance(item, Zero):
            # Consumes nothing, so the literals either side stay adjacent.
            if item.boundary:
                run.append(_EDGE)
        elif isinstance(item, Repeat):
            if item.minimum > 0 and isinstance(item.node, Lit):
                run.append(item.node.char)
            flush()
            if item.minimum > 0 and isinstance(item.node, Group):
                conj.extend(_alternation(item.node.branches, False, False))
        elif isinstance(item, Group):
            before = left if k == 0 else _is_boundary(items[k - 1])
            after = right if k == len(items) - 1 else _is_boundary(items[k + 1])
            flush()
            conj.extend(_alternation(item.branches, before, after))
        else:
            flush()
    if right:
        run.append(_EDGE)
    flush()
    return conj


def _size(literal: str) -> int:
    return len(literal.replace(_EDGE, ""))


def _best(conj: _Conjunction) -> frozenset[str]:
    return max(conj, key=lambda s: (min(_size(x) for x in s), -len(s)))


def _alternation(branches: tuple[tuple[Node, ...], ...], left: bool, right: bool) -> _Conjunction:
    requirements = [_sequence(b, left, right) for b in branches]
    if len(requirements) == 1:
        return requirements[0]
    if any(not r for r in requirements):
        return []
    return [frozenset().union(*(_best(r) for r in requirements))]


def _whole_word(literal: str) -> str | None:
    """The longest word of ``literal`` bounded on both sides inside it, if any: text holding
    the literal then holds that word as one of its words."""
    words = [
        m.group()
        for m in re.finditer(r"[a-z0-9_]+", literal)
        if m.start() > 0
        and m.end() < len(literal)
        and literal[m.start() - 1] not in _WORD_CHARS
        and literal[m.end()] not in _WORD_CHARS
    ]
    return max(words, key=len, default=None)


def _group(literals: frozenset[str]) -> LiteralGroup:
    # A literal containing another member is implied by it: checking the other suffices.
    kept = sorted(x for x in literals if not any(y != x and y in x for y in literals))
    by_word: dict[str, list[str]] = {}
    substrings: list[str] = []
    for literal in kept:
        word = _whole_word(literal)
        plain = literal.replace(_EDGE, "")
        if word is None:
            substrings.append(plain)
        else:
            by_word.setdefault(word, []).append(plain)
    return LiteralGroup(
        by_word={w: tuple(sorted(set(lits), key=len)) for w, lits in by_word.items()},
        substrings=tuple(sorted(set(substrings), key=lambda x: (-len(x), x))),
    )


def literal_filter(pattern: str) -> LiteralFilter:
    """The filter for a pattern compiled without flags that change what a literal is
    (case-insensitivity is fine: the comparison is on folded text)."""
    try:
        conj = _alternation(parse_pattern(pattern).branches, False, False)
    except UnsupportedSyntax:
        return LiteralFilter()
    unique = {s for s in conj if all(_size(x) for x in s)}
    groups = sorted((_group(s) for s in unique), key=lambda g: (len(g.substrings), len(g.words)))
    return LiteralFilter(tuple(groups))
