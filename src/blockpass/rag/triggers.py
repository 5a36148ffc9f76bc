"""Lexical triggers: the units whose words or patterns occur in a text, with certainty.

Terms (glossary terms, their incorrect forms) are matched as whole words, ignoring case and
the kind of space or apostrophe: the text and each term are cut into word and punctuation
tokens, and a term fires where its token sequence occurs. One dictionary lookup per token
of the text, however many terms there are. Patterns (a Vale rule's word list, in Vale's
syntax) are regular expressions run as the rule engine runs them, bounded in time; a
pattern that does not compile, or runs too long on a text, fires nothing rather than fail
the search.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Sequence

from blockpass.rag.units import RuleUnit
from blockpass.rules.patterns import Pattern, RegexError, SlowPattern, compile_pattern

__all__ = ["TriggerMatcher", "term_tokens"]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})


def term_tokens(text: str) -> tuple[str, ...]:
    """Lower-case word and punctuation tokens, the unit both terms and texts are cut into."""
    return tuple(_TOKEN.findall(text.translate(_APOSTROPHES).lower()))


class TriggerMatcher:
    """Built once from an index's units; ``fired`` names the positions of those that fire."""

    def __init__(self, units: Sequence[RuleUnit]) -> None:
        # first token → (the whole token sequence, unit position), longest sequences first
        self._terms: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        self._patterns: list[tuple[Pattern, int]] = []
        for position, unit in enumerate(units):
            for term in unit.triggers.terms:
                if tokens := term_tokens(term):
                    self._terms[tokens[0]].append((tokens, position))
            if unit.triggers.pattern:
                # A pattern that does not compile leaves the unit to its words and meaning.
                with contextlib.suppress(RegexError):
                    self._patterns.append((compile_pattern(unit.triggers.pattern), position))

    def fired(self, text: str) -> dict[int, int]:
        """Unit position → the length of its longest match, in characters: a longer match
        is more specific (``Red Hat AMQ`` over ``AMQ``)."""
        found: dict[int, int] = {}
        tokens = term_tokens(text)
        for start, token in enumerate(tokens):
            for sequence, position in self._terms.get(token, ()):
                if tokens[start : start + len(sequence)] == sequence:
                    found[position] = max(found.get(position, 0), len("".join(sequence)))
        for pattern, position in self._patterns:
            try:
                match = pattern.search(text)
            except SlowPattern:
                continue
            if match is not None:
                found[position] = max(found.get(position, 0), match.end() - match.start())
        return found
