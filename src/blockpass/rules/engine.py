"""Deterministic matching of Vale rules against text.

Each rule is compiled once, when its package is loaded, into one Python regular expression
built the way Vale builds its own (``internal/check/existence.go``, ``substitution.go`` and
``definition.go`` in vale-cli/vale):

    existence      raw + \\b(?:token|token|...)\\b     (no \\b with ``nonword: true`` or no
                                                     tokens; raw goes last with ``append``)
    substitution   \\b(?:(key)|(key)|...)\\b           keys longest first; the group that
                                                     matched says which replacement applies
    exceptions     \\b(?:term|term|...)\\b             case-sensitive per term unless it starts
                                                     with (?i); searched inside the match

``ignorecase: true`` makes the whole expression case-insensitive. A pattern that neither
``re`` nor (if installed) ``regex`` can compile makes the rule "not implemented" with the
compiler's message; see ``patterns.py`` for that, and ``literals.py`` for how most
rules skip most blocks without running their regex.

``check_text`` reads the text it is given as one scope; ``blockpass.lint`` cuts documents
into Vale's scopes first. The other extension points live in ``checks.py`` and
``capitalization.py``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from blockpass.errors import UserInputError
from blockpass.rules.alerts import Alert, LintState, Matcher, format_message, to_sentence
from blockpass.rules.literals import LiteralFilter, PreparedText, literal_filter
from blockpass.rules.patterns import (
    MATCH_SECONDS,
    Match,
    Pattern,
    RegexError,
    SlowPattern,
    compile_pattern,
    without_captures,
)

if TYPE_CHECKING:
    from blockpass.rules.vale import Rule

__all__ = [
    "Alert",
    "Exceptions",
    "ExistenceMatcher",
    "LintState",
    "Matcher",
    "RegexError",
    "SubstitutionMatcher",
    "check_text",
    "compile_exceptions",
    "compile_existence",
    "compile_substitution",
    "exception_pattern",
    "format_message",
    "run_rule",
    "to_sentence",
]


@dataclass(frozen=True, slots=True)
class _Scanner:
    """The rule's regex, run only on text that passes its literal filter."""

    pattern: Pattern
    literals: LiteralFilter

    def finditer(self, text: str, prepared: PreparedText | None) -> Iterator[Match]:
        groups = self.literals.groups
        if groups and not self.literals.might_match(prepared or PreparedText.of(text)):
            return iter(())
        return self.pattern.finditer(text)


def _scanner(pattern: str, flags: int) -> _Scanner:
    fast = without_captures(pattern)
    return _Scanner(compile_pattern(fast, flags), literal_filter(fast))


@dataclass(frozen=True, slots=True)
class Exceptions:
    """A match is dropped when an exception occurs in it as a word, or when it lies wholly
    inside a multi-word exception found in the text (Vale's exceptRe and phraseRe)."""

    terms: Pattern | None
    phrases: Pattern | None

    def suppress(self, text: str, start: int, end: int, observed: str) -> bool:
        if self.terms is not None and self.terms.search(observed) is not None:
            return True
        if self.phrases is not None:
            for span in self.phrases.finditer(text):
                if span.start() <= start and end <= span.end():
                    return True
        return False


def exception_pattern(exceptions: Sequence[str]) -> str:
    """Vale's ``updateExceptions`` expression: terms longest first (so alternation prefers
    the longer of two overlapping ones), each case-sensitive unless it starts with (?i)."""
    terms = sorted(exceptions, key=len, reverse=True)
    scoped = [f"(?i:{t[4:]})" if t.startswith("(?i)") else f"(?-i:{t})" for t in terms]
    return r"\b(?:" + "|".join(scoped) + r")\b"


def compile_exceptions(exceptions: Sequence[str]) -> Exceptions:
    if not exceptions:
        return Exceptions(None, None)
    term_re = compile_pattern(exception_pattern(exceptions), re.MULTILINE)
    phrases = [t for t in exceptions if " " in t or "\t" in t or r"\s" in t]
    phrase_re: Pattern | None = None
    if phrases:
        try:
            phrase_re = compile_pattern(r"\b(?:" + "|".join(phrases) + r")\b", re.IGNORECASE)
        except RegexError:
            phrase_re = None  # Vale also drops an uncompilable phrase list silently
    return Exceptions(term_re, phrase_re)


@dataclass(frozen=True, slots=True)
class ExistenceMatcher:
    scanner: _Scanner
    exceptions: Exceptions

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        alerts: list[Alert] = []
        for m in self.scanner.finditer(text, prepared):
            start, end = m.start(), m.end()
            if start == end:
                continue
            matched = text[start:end]
            if self.exceptions.suppress(text, start, end, matched.strip()):
                continue
            alerts.append(
                Alert(
                    rule_id=rule.id,
                    level=rule.level,
                    message=format_message(rule.message, matched),
                    start=start,
                    end=end,
                    match=matched,
                )
            )
        return alerts


def compile_existence(
    *,
    tokens: Sequence[str],
    raw: Sequence[str],
    nonword: bool,
    ignorecase: bool,
    append: bool,
    exceptions: Sequence[str],
) -> ExistenceMatcher:
    parsed = [t for t in tokens if t.strip()]
    body = "(?:" + "|".join(parsed) + ")"
    if not nonword and tokens:
        body = r"\b" + body + r"\b"
    joined_raw = "".join(raw)
    flags = re.IGNORECASE if ignorecase else 0
    if append or not joined_raw:
        # Vale's `(?m)` sits at the front here, so it covers everything.
        pattern, flags = body + joined_raw, flags | re.MULTILINE
    else:
        # Vale writes raw + `(?m)` + body, so multi-line mode starts after the raw part. Raw
        # is not wrapped in a group: a top-level `|` in it splits the whole expression in
        # Vale, and must here too.
        pattern = joined_raw + "(?m:" + body + ")"
    return ExistenceMatcher(_scanner(pattern, flags), compile_exceptions(exceptions))


# Vale turns `(` into `(?:` in swap keys so that its own groups number the keys.
_CAPTURE_OPEN = re.compile(r"(?<!\\)\((?!\?)")
_GROUP_REFERENCE = re.compile(r"\$(\d+)")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def _options(expected: str) -> list[str]:
    """`a|b` lists alternatives; `\\|` is a literal pipe."""
    return [o.replace(r"\|", "|") for o in _UNESCAPED_PIPE.split(expected) if o]


def _cap_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _is_phrase(text: str) -> bool:
    return all(c.isalpha() or c.isdigit() or c in " -" for c in text)


@lru_cache(maxsize=4096)
def _token_pattern(expected: str) -> Pattern | None:
    try:
        return compile_pattern("^(?:" + expected + ")$")
    except RegexError:
        return None


def _matches_token(expected: str, observed: str) -> bool:
    """Whether ``observed`` already is an acceptable form of ``expected`` (Vale's matchToken)."""
    pattern = None if _is_phrase(expected) else _token_pattern(expected)
    if pattern is None:
        return expected == observed
    return pattern.search(observed) is not None


def _unquote_first(message: str) -> str:
    """The replacement list arrives already quoted; drop the quotes round its ``%s``."""
    for spec in ("'%s'", '"%s"'):
        if message.count(spec) == 2:
            message = message.replace(spec, "%s", 1)
    return message


@dataclass(frozen=True, slots=True)
class SubstitutionMatcher:
    scanner: _Scanner
    # Vale's expression with one named group per key, `s0`, `s1`, ...: re-run only where the
    # scanner found a match, to learn which key it was.
    keyed: Pattern
    exceptions: Exceptions
    swaps: tuple[tuple[str, str], ...]  # (key as written, replacement), group order
    ignorecase: bool

    def _expected(self, index: int, observed: str, capitalize: bool) -> str:
        key, expected = self.swaps[index]
        if capitalize and observed == _cap_first(observed):
            expected = _cap_first(expected)
        if _GROUP_REFERENCE.search(expected):
            # `$1` in a replacement refers to the key's own groups, applied to the match.
            template = _GROUP_REFERENCE.sub(r"\\g<\1>", expected.replace("\\", "\\\\"))
            flags = re.IGNORECASE if self.ignorecase else 0
            with contextlib.suppress(re.error, IndexError):
                expected = re.sub(key, template, observed, flags=flags)
        return expected

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        alerts: list[Alert] = []
        action = rule.action
        for found in self.scanner.finditer(text, prepared):
            m = self.keyed.match(text, found.start())
            if m is None or m.lastgroup is None:
                continue
            start, end = m.start(m.lastgroup), m.end(m.lastgroup)
            if start == end:
                continue
            # Vale compares and reports the match without the spaces a pattern took in at
            # either end (`vs ` reads as 'vs'); the alert still spans the whole match.
            matched = text[start:end]
            observed = matched.strip()
            expected = self._expected(int(m.lastgroup[1:]), observed, rule.capitalize)
            options = _options(expected)
            if action.name == "replace":
                same = observed in options
            else:
                same = _matches_token(expected, observed)
            if same or self.exceptions.suppress(text, start, end, observed):
                continue
            message, shown, replacements = rule.message, expected, tuple(options)
            if action.name == "replace" and not action.params:
                if rule.capitalize and observed == _cap_first(observed):
                    replacements = tuple(_cap_first(o) for o in options)
                shown = to_sentence(replacements, "or")
                message = _unquote_first(message)
            elif action.name == "replace":
                replacements = action.params
            alerts.append(
                Alert(
                    rule_id=rule.id,
                    level=rule.level,
                    message=format_message(message, shown, observed),
                    start=start,
                    end=end,
                    match=matched,
                    replacements=replacements,
                )
            )
        return alerts


def compile_substitution(
    *,
    swap: Sequence[tuple[str, str]],
    nonword: bool,
    ignorecase: bool,
    exceptions: Sequence[str],
) -> SubstitutionMatcher:
    # Vale sorts by length only, from Go's random map order, so its ties are unordered; a
    # stable sort keeps ties in file order and makes the outcome reproducible.
    ordered = tuple(sorted(swap, key=lambda pair: len(pair[0]), reverse=True))
    keys = []
    for key, _ in ordered:
        if key.count("(") != key.count("(?") + key.count(r"\("):
            key = _CAPTURE_OPEN.sub("(?:", key)
        keys.append(key)
    flags = re.MULTILINE | (re.IGNORECASE if ignorecase else 0)
    word = (r"\b", r"\b") if not nonword else ("", "")
    keyed = "|".join(f"(?P<s{i}>{key})" for i, key in enumerate(keys))
    plain = "|".join(f"(?:{key})" for key in keys)
    return SubstitutionMatcher(
        scanner=_scanner(f"{word[0]}(?:{plain}){word[1]}", flags),
        keyed=compile_pattern(f"{word[0]}(?:{keyed}){word[1]}", flags),
        exceptions=compile_exceptions(exceptions),
        swaps=ordered,
        ignorecase=ignorecase,
    )


def check_text(text: str, rules: Sequence[Rule], *, state: LintState | None = None) -> list[Alert]:
    """Alerts of the implemented rules in ``text``, read as one scope, ordered by position.

    ``state`` carries what conditional rules learnt from earlier texts of the same
    document; without it, ``text`` is a document of its own.
    """
    alerts: list[Alert] = []
    if not text.strip():
        return alerts  # Vale never lints a blank scope
    prepared = PreparedText.of(text)
    state = LintState() if state is None else state
    for rule in rules:
        if rule.implemented and rule.matcher is not None:
            alerts.extend(run_rule(rule, text, prepared, state))
    alerts.sort(key=lambda a: (a.start, a.end, a.rule_id))
    return alerts


def run_rule(rule: Rule, text: str, prepared: PreparedText, state: LintState) -> list[Alert]:
    """The alerts of an implemented rule in ``text``; a pattern that hangs is the rule's fault,
    said in one line, rather than a run that never ends."""
    assert rule.matcher is not None
    try:
        return rule.matcher.run(text, rule, prepared, state)
    except SlowPattern:
        raise UserInputError(
            f"{rule.path}: rule {rule.id} ran over {MATCH_SECONDS:g} s on one block: its"
            " pattern backtracks catastrophically; simplify it or remove the rule"
        ) from None
