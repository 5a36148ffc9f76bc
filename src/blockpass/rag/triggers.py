"""Lexical signals: the units whose words or patterns occur in a text (triggers, certain
candidates), and the grammar cues a query is widened with.

Terms (glossary terms, their incorrect forms) are matched as whole words, ignoring case and
the kind of space or apostrophe: the text and each term are cut into word and punctuation
tokens, and a term fires where its token sequence occurs. One dictionary lookup per token
of the text, however many terms there are. Patterns (a Vale rule's word list, in Vale's
syntax) are regular expressions run as the rule engine runs them, bounded in time; a
pattern that does not compile, or runs too long on a text, fires nothing rather than fail
the search.

A term also fires where the text writes it with other spacing, hyphens, underscores or
case ("Operator hub", "operator-hub" for ``OperatorHub``; "soft copy" for ``softcopy``;
"Z Stream" for ``z-stream``): those are the spellings a glossary exists to catch. Runs of
words joined only by spaces, hyphens or underscores (never across other punctuation) are
compared by their *squashed* form, case-folded letters and digits only, with the terms'.
To keep two ordinary words from squashing into a term by accident: only squashed forms of
at least 5 characters with a letter in them, a run of at most one word more than the term
has, no run of several words that starts or ends with a preposition, particle or article
("stored in memory" is not "in-memory", "menus pop up" not "pop-up"), and never where the
run is spelled exactly as a term already (text "set up" fires the entry for "set up", not
also the one for "setup"). One dictionary lookup per run length.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from blockpass.rag.units import RuleUnit
from blockpass.rules.patterns import Pattern, RegexError, SlowPattern, compile_pattern

__all__ = [
    "CUES",
    "SQUASHED_MIN_LENGTH",
    "TermMatch",
    "TriggerMatcher",
    "cues_in",
    "query_with_cues",
    "squashed",
    "term_tokens",
]

SQUASHED_MIN_LENGTH = 5
_TOKEN = re.compile(r"\w+|[^\w\s]")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'"})
# What joins a term's words when a writer respells it: a hyphen (ASCII, Unicode,
# non-breaking); spaces are not tokens and an underscore is part of a word token.
_JOINERS = frozenset("-\u2010\u2011")
# Words that make an open run an ordinary phrase rather than a respelled term: a
# prepositional phrase ("stored in memory", not "in-memory"), a phrasal verb ("menus pop
# up", not "pop-up"; "log in", not "login"), an article ("a typical", not "atypical").
# Whether the text meant the compound depends on the words around it, which a word
# matcher does not read; the spelled forms still fire as terms.
_PHRASE_EDGES = {
    *("a", "an", "the", "and", "or", "as", "at", "by", "down", "for", "from", "in", "into"),
    *("of", "off", "on", "onto", "out", "over", "to", "up", "with"),
}


def term_tokens(text: str) -> tuple[str, ...]:
    """Lower-case word and punctuation tokens, the unit both terms and texts are cut into."""
    return tuple(_TOKEN.findall(text.translate(_APOSTROPHES).lower()))


def squashed(text: str) -> str:
    """Case-folded letters and digits only: the form respellings of a term share."""
    folded = text.casefold()
    if folded.isalnum():
        return folded  # most words: nothing to take out
    return "".join(character for character in folded if character.isalnum())


def _is_word(token: str) -> bool:
    return token[0].isalnum() or token[0] == "_"


@dataclass(frozen=True)
class TermMatch:
    """A unit's term found in a text: ``length`` is the term's (its tokens joined),
    ``tokens`` the text's it covers from token ``start`` on; ``respelled`` when the text
    writes the term with other spacing, hyphens, underscores or case."""

    position: int
    length: int
    start: int
    tokens: tuple[str, ...]
    respelled: bool = False

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.start + len(self.tokens)


class TriggerMatcher:
    """Built once from an index's units; ``fired`` names the positions of those that fire."""

    def __init__(self, units: Sequence[RuleUnit]) -> None:
        # first token → (the whole token sequence, unit position)
        self._terms: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        # squashed term → (unit position, the term's match length, most words in a run)
        self._squashed: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
        self._patterns: list[tuple[Pattern, int]] = []
        for position, unit in enumerate(units):
            for term in unit.triggers.terms:
                if tokens := term_tokens(term):
                    self._terms[tokens[0]].append((tokens, position))
                    form = squashed(term)
                    if len(form) >= SQUASHED_MIN_LENGTH and not form.isdigit():
                        words = sum(1 for token in tokens if _is_word(token))
                        self._squashed[form].append((position, len("".join(tokens)), words + 1))
            if unit.triggers.pattern:
                # A pattern that does not compile leaves the unit to its words and meaning.
                with contextlib.suppress(RegexError):
                    self._patterns.append((compile_pattern(unit.triggers.pattern), position))
        self._longest_squashed = max(map(len, self._squashed), default=0)
        # A run stops growing as soon as no term's squashed form starts with it.
        self._squashed_starts = {form[:end] for form in self._squashed for end in range(len(form))}
        self._most_words = max(
            (most for found in self._squashed.values() for _, _, most in found), default=0
        )

    def fired(self, text: str) -> dict[int, int]:
        """Unit position → the length of its longest match, in characters: a longer match
        is more specific (``Red Hat AMQ`` over ``AMQ``). A respelled term weighs what the
        term itself does, however the text spaces it."""
        found: dict[int, int] = {}
        for match in self.term_matches(text):
            found[match.position] = max(found.get(match.position, 0), match.length)
        for pattern, position in self._patterns:
            try:
                found_by_pattern = pattern.search(text)
            except SlowPattern:
                continue
            if found_by_pattern is not None:
                length = found_by_pattern.end() - found_by_pattern.start()
                found[position] = max(found.get(position, 0), length)
        return found

    def term_matches(self, text: str) -> list[TermMatch]:
        """Every place a unit's term occurs in ``text``, as spelled, then respelled."""
        tokens = term_tokens(text)
        matches: list[TermMatch] = []
        for start, token in enumerate(tokens):
            for sequence, position in self._terms.get(token, ()):
                if tokens[start : start + len(sequence)] == sequence:
                    matches.append(TermMatch(position, len("".join(sequence)), start, sequence))
        spelled_exactly = {match.span for match in matches}
        for position, length, (start, end) in self._respelled(tokens):
            if (start, end) not in spelled_exactly:
                matches.append(TermMatch(position, length, start, tokens[start:end], True))
        return matches

    def _respelled(self, tokens: Sequence[str]) -> Iterator[tuple[int, int, tuple[int, int]]]:
        """(unit position, match length, token span) of each run of joined words whose
        squashed form is a term's: one lookup per run length."""
        words: list[tuple[int, str]] = []  # (token index, squashed word)
        joined: list[bool] = []  # whether a word continues the run of the one before
        broken = True
        for index, token in enumerate(tokens):
            if _is_word(token):
                words.append((index, squashed(token)))
                joined.append(not broken)
                broken = False
            elif token not in _JOINERS:
                broken = True
        for first, (start, _) in enumerate(words):
            form = ""
            for last in range(first, min(len(words), first + self._most_words)):
                piece = words[last][1]
                if (last > first and not joined[last]) or (
                    len(form) + len(piece) > self._longest_squashed
                ):
                    break
                form += piece
                if form not in self._squashed and form not in self._squashed_starts:
                    break
                if last > first and _PHRASE_EDGES & {tokens[start], tokens[words[last][0]]}:
                    continue
                for position, length, most_words in self._squashed.get(form, ()):
                    if last - first < most_words:
                        yield position, length, (start, words[last][0] + 1)


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
