"""Sentence boundaries in prose, close to the Punkt segmenter Vale uses.

Vale cuts each block into sentences with prose's Punkt model (English), and rules with
``scope: sentence`` read one sentence at a time. Punkt marks every ``.``, ``?`` and ``!``
followed by white space as a boundary, except after a known abbreviation, an initial or an
ellipsis, where it looks at the next word: only a capital there starts a new sentence; and
punctuation closed by a bracket or quote (``engineer.) at``) ends no sentence before a
lowercase word (twine's ``multiPunctWordAnnotation``, ``looksInternal``). This
module follows the same decisions with a fixed list of abbreviations instead of the trained
model, which is what decides the fixtures' sentences and nearly all of real prose.

``split_sentences`` returns ``(start, end)`` spans into the text, each trimmed of white space
as Vale trims its sentences.
"""

from __future__ import annotations

import re

__all__ = ["split_sentences"]

# Punkt's English model knows these as abbreviations; a period after them rarely ends a
# sentence, so only a following capital does.
_ABBREVIATION_WORDS = """
    a.m p.m e.g i.e cf vs etc al approx fig figs no nos vol vols ed eds inc ltd co corp
    jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k
"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
# Titles come before a name, which is capitalised anyway: never a boundary.
_TITLE_WORDS = "mr mrs ms dr prof sr jr st mt gen gov sen rep rev"
_TITLES = frozenset(_TITLE_WORDS.split())
# A run of terminal punctuation, the quotes or brackets that close with it, then space.
_CANDIDATE = re.compile(r"[.?!…]+[\"'”’)\]]*(?=\s+\S)")
_OPENERS = "\"'“‘(["
_CLOSERS = "\"'”’)"


def _ends_sentence(text: str, candidate: re.Match[str]) -> bool:
    terminal = candidate.group().rstrip("\"'”’)]")
    after = text[candidate.end() :].lstrip()
    next_is_capital = after[:1].isupper() or after[:1] in _OPENERS
    if candidate.group()[-1] in _CLOSERS and after[:1].islower():
        return False
    if "?" in terminal or "!" in terminal:
        return True
    if len(terminal) > 1 or terminal == "…":
        return next_is_capital  # an ellipsis ends a sentence only before a capital
    token = _word_before(text, candidate.start())
    if not token:
        return True
    lowered = token.lower()
    if lowered in _TITLES:
        return False
    abbreviation = lowered in _ABBREVIATIONS or "." in token
    initial = len(token) == 1 and token.isalpha()
    if abbreviation or initial:
        return next_is_capital
    return True


def _word_before(text: str, end: int) -> str:
    begin = end
    while begin > 0 and not text[begin - 1].isspace() and text[begin - 1] not in _OPENERS:
        begin -= 1
    return text[begin:end]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of ``text``, trimmed; empty for blank text."""
    spans: list[tuple[int, int]] = []
    start = 0
    for candidate in _CANDIDATE.finditer(text):
        if _ends_sentence(text, candidate):
            spans.append((start, candidate.end()))
            start = candidate.end()
    spans.append((start, len(text)))
    trimmed: list[tuple[int, int]] = []
    for begin, end in spans:
        while begin < end and text[begin].isspace():
            begin += 1
        while end > begin and text[end - 1].isspace():
            end -= 1
        if begin < end:
            trimmed.append((begin, end))
    return trimmed
