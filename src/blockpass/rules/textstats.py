"""Text statistics for the ``metric`` and ``readability`` extension points, as Vale counts them.

Vale computes both over the document's summary with ``summarize.NewDocument`` of
jdkato/twine (formerly jdkato/prose, same code): ``summarize/summarize.go`` (counting; twine
@ 1d45975388672ccd97b86a4118de63fc2e7d9f50), ``summarize/readability.go`` (the formulas;
prose @ 53a0f3f64354cae4bd319790f38169532c4c8e25) and ``summarize/syllables.go`` (the
syllable counter, ported below with its corner cases and expressions unchanged; read from
the package's public source, commit not recorded). Words come from
``tokenize.NewWordBoundaryTokenizer``: ``(?:[A-Z]\\.){2,}|[\\p{N}\\p{L}']+``.

The text is cut into paragraphs at blank lines and each paragraph into sentences; Vale
uses its Punkt model there, this engine its own approximation (``sentences.py``), the one
its ``sentence`` scope uses. Definitions, per word:

long           more than 6 bytes in UTF-8 (Go's ``len``)
polysyllabic   more than 2 syllables
complex        more than 2 syllables after taking one off for an ``es``, ``ed`` or ``ing``
               ending (case-sensitive, as in Go)
characters     letters and digits
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache

from blockpass.rules.sentences import split_sentences

__all__ = ["READABILITY_METRICS", "TextStats", "syllables", "text_stats"]

_WORD = re.compile(r"(?:[A-Z]\.){2,}|(?:[^\W_]|')+")
_PARAGRAPH_BREAK = "\n\n"

# summarize/syllables.go: words whose count the rules below get wrong.
_CORNER_CASES = {
    "abalone": 4,
    "abare": 3,
    "abed": 2,
    "abruzzese": 4,
    "abbruzzese": 4,
    "aborigine": 5,
    "aborigines": 5,
    "acreage": 3,
    "adame": 3,
    "adieu": 2,
    "adobe": 3,
    "anemone": 4,
    "apache": 3,
    "aphrodite": 4,
    "apostrophe": 4,
    "ariadne": 4,
    "cafe": 2,
    "cafes": 2,
    "calliope": 4,
    "catastrophe": 4,
    "chile": 2,
    "chloe": 2,
    "circe": 2,
    "coyote": 3,
    "epitome": 4,
    "facsimile": 4,
    "forever": 3,
    "gethsemane": 4,
    "guacamole": 4,
    "hyperbole": 4,
    "jesse": 2,
    "jukebox": 2,
    "karate": 3,
    "machete": 3,
    "maybe": 2,
    "people": 2,
    "recipe": 3,
    "sesame": 3,
    "shoreline": 2,
    "simile": 3,
    "syncope": 3,
    "tamale": 3,
    "yosemite": 4,
    "daphne": 2,
    "eurydice": 4,
    "euterpe": 3,
    "hermione": 4,
    "penelope": 4,
    "persephone": 4,
    "phoebe": 2,
    "zoe": 2,
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _alternatives(words: str) -> str:
    return "|".join(_words(words))


# Pairs of vowels usually said as one syllable (each match takes one off).
_MONOSYLLABIC_ONE = re.compile(
    r"cia(l|$)|tia|cius|cious|[^aeiou]giu|[aeiouy][^aeiouy]ion|iou|sia$|eous$|[oa]gue$|"
    r".[^aeiuoycgltdb]{2,}ed$|.ely$|^jua|uai|eau|^busi$|"
    r"([aeiouy]("
    + _alternatives("b c ch dg f g gh gn k l lch ll lv m mm n nc ng nch nn p r rc rn rs rv")
    + "|"
    + _alternatives("s sc sk sl squ ss th v y z")
    + r")ed$)|([aeiouy]("
    + _alternatives("b ch d f gh gn k l lch ll lv m mm n nch nn p r rn rs rv s sc sk sl")
    + "|"
    + _alternatives("squ ss st t th v y")
    + r")es$)"
)
_MONOSYLLABIC_TWO = re.compile(
    r"[aeiouy]("
    + _alternatives("b c ch d dg f g gh gn k l ll lv m mm n nc ng nn p r rc rn rs rv s sc sk")
    + "|"
    + _alternatives("sl squ ss st t th v y z")
    + r")e$"
)
# Vowel runs usually said as two syllables (each match adds one).
_DOUBLE_SYLLABIC = (
    re.compile(
        r"(?:[^aeiouy]ie(r|st|t)|[aeiouym]bl|eo|ism|asm|thm|dnt|uity|dea|gean|oa|ua|eings?|"
        r"[aeiouy]sh?e[rsd])$"
    ),
    re.compile(r"[^gq]ua[^auieo]|[aeiou]{3}|^(ia|mc|coa[dglx].)"),
    re.compile(
        r"[^aeiou]y[ae]|[^l]lien|riet|dien|iu|io|ii|uen|real|iell|eo[^aeiou]|[aeiou]y[aeiou]"
    ),
    re.compile(r"[^s]ia"),
)
_VOWELS = re.compile(r"[aeiouy]+")
# Longer than any word: a hash or a run of letters. Go's linear regexes take such a token
# in their stride; here `.[^aeiuoycgltdb]{2,}ed$` would backtrack quadratically, so a
# token this long is counted by its vowel groups alone.
_LONGEST_WORD = 100
# Prefixes and suffixes said apart from the stem; the earlier group counts for more.
_PREFIXES = (
    _words(
        "above anti ante counter hyper afore agri infra intra inter over semi ultra under "
        "extra dia micro mega kilo pico nano macro"
    ),
    _words("un fore ware none non out post sub pre pro dis side"),
)
_SUFFIXES = (
    _words("ology ologist onomy onomist"),
    _words("fully berry woman women"),
    _words(
        "ly less some ful er ers ness cian cians ment ments ette ettes ville villes ships "
        "ship side sides port ports shire shires tion tioned"
    ),
)


def _clear_prefix(word: str) -> tuple[str, int]:
    for index, group in enumerate(_PREFIXES):
        if word.startswith(group):
            prefix = next(p for p in group if word.startswith(p))
            return word[len(prefix) :], len(_PREFIXES) - index
    return word, 0


def _clear_suffix(word: str) -> tuple[str, int]:
    for index, group in enumerate(_SUFFIXES):
        if word.endswith(group):
            suffix = next(p for p in group if word.endswith(p))
            return word[: -len(suffix)], len(_SUFFIXES) - index
    return word, 0


def _findall_count(pattern: re.Pattern[str], text: str) -> int:
    return len(pattern.findall(text))


def syllables(word: str) -> int:
    """summarize.Syllables: the number of syllables of one word."""
    if len(word) < 1:
        return 0
    if len(word) < 3:
        return 1
    word = word.lower()
    if word in _CORNER_CASES:
        return _CORNER_CASES[word]
    text, prefix = _clear_prefix(word)
    text, suffix = _clear_suffix(text)
    count = prefix + suffix + _findall_count(_VOWELS, text)
    if len(text) > _LONGEST_WORD:
        return max(count, 1)
    count -= _findall_count(_MONOSYLLABIC_ONE, text) + _findall_count(_MONOSYLLABIC_TWO, text)
    count += sum(_findall_count(pattern, text) for pattern in _DOUBLE_SYLLABIC)
    return max(count, 1)


def _is_complex(word: str, count: int) -> bool:
    if word.endswith(("es", "ed", "ing")):
        count -= 1
    return count > 2


# Prose repeats its words: each is measured once.
@lru_cache(maxsize=1 << 16)
def _measure(word: str) -> tuple[int, int, int, int, int]:
    """A word's syllables, characters, and whether it is long, polysyllabic, complex."""
    count = syllables(word)
    characters = sum(c.isalpha() or c.isnumeric() for c in word)
    return count, characters, len(word.encode()) > 6, count > 2, _is_complex(word, count)


@dataclass(frozen=True, slots=True, kw_only=True)
class TextStats:
    """summarize.Document's counts (floats, as Vale hands them to formulas)."""

    words: float = 0.0
    sentences: float = 0.0
    paragraphs: float = 0.0
    syllables: float = 0.0
    characters: float = 0.0
    long_words: float = 0.0
    complex_words: float = 0.0
    polysyllabic_words: float = 0.0

    def variables(self) -> dict[str, float]:
        """The names a ``metric`` formula reads them by."""
        return {
            "words": self.words,
            "sentences": self.sentences,
            "paragraphs": self.paragraphs,
            "syllables": self.syllables,
            "characters": self.characters,
            "long_words": self.long_words,
            "complex_words": self.complex_words,
            "polysyllabic_words": self.polysyllabic_words,
        }

    # summarize/readability.go; Go's float division gives inf or nan rather than failing.
    def flesch_kincaid(self) -> float:
        return (
            0.39 * _ratio(self.words, self.sentences)
            + 11.8 * _ratio(self.syllables, self.words)
            - 15.59
        )

    def gunning_fog(self) -> float:
        return 0.4 * (
            _ratio(self.words, self.sentences) + 100.0 * _ratio(self.complex_words, self.words)
        )

    def smog(self) -> float:
        return 1.0430 * math.sqrt(_ratio(self.polysyllabic_words * 30.0, self.sentences)) + 3.1291

    def automated_readability(self) -> float:
        return (
            4.71 * _ratio(self.characters, self.words)
            + 0.5 * _ratio(self.words, self.sentences)
            - 21.43
        )

    def coleman_liau(self) -> float:
        return (
            0.0588 * _ratio(self.characters, self.words) * 100
            - 0.296 * _ratio(self.sentences, self.words) * 100
            - 15.8
        )


def _ratio(numerator: float, denominator: float) -> float:
    if denominator:
        return numerator / denominator
    if numerator:
        return math.copysign(math.inf, numerator)
    return math.nan


READABILITY_METRICS = {
    "Gunning Fog": TextStats.gunning_fog,
    "Coleman-Liau": TextStats.coleman_liau,
    "Flesch-Kincaid": TextStats.flesch_kincaid,
    "SMOG": TextStats.smog,
    "Automated Readability": TextStats.automated_readability,
}


def text_stats(text: str) -> TextStats:
    """summarize.Document.Initialize: paragraphs split at blank lines, their sentences, and
    the words of each sentence."""
    sentences = 0
    measures: list[tuple[int, int, int, int, int]] = []
    paragraphs = text.split(_PARAGRAPH_BREAK)
    for paragraph in paragraphs:
        for start, end in split_sentences(paragraph):
            sentences += 1
            measures.extend(map(_measure, _WORD.findall(paragraph[start:end])))
    totals = [float(sum(column)) for column in zip(*measures, strict=True)] or [0.0] * 5
    return TextStats(
        words=float(len(measures)),
        sentences=float(sentences),
        paragraphs=float(len(paragraphs)),
        syllables=totals[0],
        characters=totals[1],
        long_words=totals[2],
        polysyllabic_words=totals[3],
        complex_words=totals[4],
    )
