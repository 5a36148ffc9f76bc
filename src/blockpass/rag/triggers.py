"""Lexical signals: the units whose words or patterns occur in a text (triggers, certain
candidates), and the grammar cues a query is widened with.

Terms (glossary terms, their incorrect forms) are matched as whole words, ignoring case and
the kind of space or apostrophe: the text and each term are cut into word and punctuation
tokens, and a term fires where its token sequence occurs. One dictionary lookup per token
of the text, however many terms there are. Patterns (a Vale rule's word list, in Vale's
syntax) are regular expressions run as the rule engine runs them, bounded in time; a
pattern that does not compile, or runs too long on a text, fires nothing rather than fail
the search.

Grammar cues: a guide names a construction ("Contractions", "the passive voice") where a
block only uses one (``aren't``, ``It was decided``): no word is shared, and a small
embedding model does not bridge the gap either. So a query is expanded with the
construction's name when the text shows it, the way a reader would look it up in the
guide's index. The detectors are plain English grammar, the same for every guide, and
deliberately conservative: a missed cue leaves the query as it was, a wrong one only adds a
candidate.

A cue also makes the guide's own section on the construction a certain candidate (its
*cue unit*, ``index.py``): the unit that BM25 ranks first for the construction's name among
those that name it. A block in the passive voice needs what the guide says about the
passive voice whatever else it is about; ranked on its topic, that section comes far down.

- contraction: a word with ``n't``, ``'ll``, ``'re``, ``'ve``, ``'d`` or ``'m``, or ``'s``
  after a pronoun or question word (``it's``; ``the cluster's`` is a possessive);
- passive voice: a form of *be* (or *get*), negated or not, followed (an adverb in ``-ly``
  allowed between) by a past participle: a word in ``-ed``/``-en`` or an irregular one.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Sequence

from blockpass.rag.units import RuleUnit
from blockpass.rules.patterns import Pattern, RegexError, SlowPattern, compile_pattern

__all__ = ["CUES", "TriggerMatcher", "cues_in", "query_with_cues", "term_tokens"]

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


_APOSTROPHE = "['’]"
_S_HOSTS = (
    "it|that|what|who|how|where|when|why|there|here|he|she|let|this|everyone|everybody|"
    "someone|somebody|nobody|nothing|something|everything"
)
_CONTRACTION = re.compile(
    rf"\b\w+(?:n{_APOSTROPHE}t|{_APOSTROPHE}(?:ll|re|ve|d|m))\b|\b(?:{_S_HOSTS}){_APOSTROPHE}s\b",
    re.IGNORECASE,
)
# The irregular past participles of a standard English verb table (those in -en and -ed
# are found by their ending).
_IRREGULAR_PARTICIPLE_LIST = (
    "arisen awoken beat become begun bent beset bet bid bled blown born borne bought "
    "bound bred broadcast brought built burnt burst cast caught chosen clung come cost "
    "crept cut dealt dived done gone drawn dreamt drunk dug dwelt fed felt fit fled "
    "flown flung forecast foregone foreseen foretold fought found ground grown heard "
    "held hewn hit hung hurt kept knelt knit known laid lain leant leapt learnt led left "
    "lent let lit lost made meant met mislaid misled misread misspelt misunderstood mown "
    "overcome overdone overthrown paid proven put quit read rid run rung said sat sawn "
    "seen sent set sewn shed shod shone shorn shot shown shrunk shut slain slept slid "
    "slit slung smelt sold sought sown sped spelt spent spilt spit split spoilt spread "
    "sprung spun stood stuck stung stunk strewn struck strung sung sunk sworn swept swum "
    "swung taught thought thrown thrust told torn trodden understood undone upheld upset "
    "wed wept withheld withstood woken won worn wound wrung"
)
_IRREGULAR_PARTICIPLES = "|".join(_IRREGULAR_PARTICIPLE_LIST.split())
_PASSIVE = re.compile(
    rf"\b(?:am|is|are|was|were|be|been|being|get|gets|got|gotten)(?:n{_APOSTROPHE}t)?\s+"
    r"(?:not\s+)?(?:\w+ly\s+)?"
    r"(?!(?:often|even|then|when|open|token|screen|listen|seven|eleven)\b)"
    rf"(?:\w+ed|\w+en|{_IRREGULAR_PARTICIPLES})\b",
    re.IGNORECASE,
)
# The construction's name as guides write it, for each detector.
CUES = ((_CONTRACTION, "contractions"), (_PASSIVE, "passive voice"))


def cues_in(text: str) -> list[str]:
    """The names of the constructions ``text`` shows, in ``CUES`` order."""
    return [name for detector, name in CUES if detector.search(text)]


def query_with_cues(text: str) -> str:
    """``text`` with the name of each construction it shows appended, once."""
    names = cues_in(text)
    return "\n".join((text, *names)) if names else text
