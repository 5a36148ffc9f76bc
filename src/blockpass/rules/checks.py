"""The counting and pairing extension points: occurrence, repetition, conditional,
consistency.

Each follows Vale's ``internal/check/<point>.go``:

occurrence   ``(?i)?(?:token)`` counted over the scope; more than ``max`` (or fewer than
             ``min``) gives one alert at the first match (at the start of the scope when
             there is none). Vale passes the message through unformatted.
repetition   ``(?i)?(tokens|...)``; a match equal to the one before it (trimmed; compared
             case-insensitively with ``ignorecase``; letters only with ``alpha``) is a
             repeat. More than ``max`` repeats in a row give an alert spanning the pair,
             unless the pair crosses a sentence boundary or holds an exception.
conditional  every match of ``first`` needs ``second``. When ``second`` has a capture group
             the captured values are collected across the whole document, in reading
             order (Vale's ``File.Sequences``, shared by all conditional rules), and a
             ``first`` match is fine when it was captured before; without a group, one
             match of ``second`` in the same scope clears every ``first``. ``ignorecase``
             is not applied to either pattern, as in Vale.
consistency  each ``either`` pair ``a: b`` is ``(?i)?(?m)\\b(?:(a)|(b))\\b`` (no ``\\b`` with
             ``nonword``). Every match records which side it was in the document's
             ``File.Sequences`` (under the rule's file stem and a pair number, as Vale
             names its groups); a scope with a match of the pair alerts once, after both
             sides have been seen anywhere so far in the document. The alert names the
             scope's *last* match of the pair and sits where that text first occurs in the
             scope, as Vale's unanchored alert does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blockpass.rules.alerts import Alert, LintState, format_message
from blockpass.rules.engine import Exceptions, compile_exceptions
from blockpass.rules.literals import PreparedText
from blockpass.rules.patterns import Pattern, RegexError, compile_pattern
from blockpass.rules.sentences import split_sentences

if TYPE_CHECKING:
    from blockpass.rules.vale import Rule

__all__ = [
    "ConditionalMatcher",
    "ConsistencyMatcher",
    "OccurrenceMatcher",
    "RepetitionMatcher",
    "compile_conditional",
    "compile_consistency",
    "compile_occurrence",
    "compile_repetition",
]


def _text(definition: Mapping[str, Any], key: str) -> str:
    value = definition.get(key)
    if value is None or isinstance(value, dict | list):
        raise RegexError(f"'{key}' must be a string")
    return str(value)


def _number(definition: Mapping[str, Any], key: str) -> int:
    value = definition.get(key, 0)
    try:
        return int(value or 0)
    except (TypeError, ValueError) as exc:
        raise RegexError(f"'{key}' must be a whole number, not {value!r}") from exc


def _flags(ignorecase: bool) -> int:
    return re.IGNORECASE if ignorecase else 0


@dataclass(frozen=True, slots=True)
class OccurrenceMatcher:
    pattern: Pattern
    maximum: int
    minimum: int

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        found = list(self.pattern.finditer(text))
        count = len(found)
        too_many = self.maximum > 0 and count > self.maximum
        too_few = self.minimum > 0 and count < self.minimum
        if not (too_many or too_few):
            return []
        start, end = (found[0].start(), found[0].end()) if found else (0, 0)
        return [
            Alert(
                rule_id=rule.id,
                level=rule.level,
                message=rule.message,
                start=start,
                end=end,
                match=text[start:end],
            )
        ]


def compile_occurrence(definition: Mapping[str, Any], ignorecase: bool) -> OccurrenceMatcher:
    pattern = compile_pattern("(?:" + _text(definition, "token") + ")", _flags(ignorecase))
    return OccurrenceMatcher(pattern, _number(definition, "max"), _number(definition, "min"))


def _letters_only(text: str) -> bool:
    return all(c.isalpha() for c in text)


@dataclass(frozen=True, slots=True)
class RepetitionMatcher:
    pattern: Pattern
    maximum: int
    alpha: bool
    ignorecase: bool
    exceptions: Exceptions

    def _same(self, current: str, previous: str) -> bool:
        if not current:
            return False
        if self.ignorecase:
            return current.casefold() == previous.casefold()
        return current == previous

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        alerts: list[Alert] = []
        previous, count, previous_start = "", 0, 0
        for m in self.pattern.finditer(text):
            current = text[m.start() : m.end()].strip()
            hit = self._same(current, previous) and (not self.alpha or _letters_only(current))
            if hit:
                count += 1
            if hit and count > self.maximum:
                start, end = previous_start, m.end()
                pair = text[start:end]
                # Two sentences ("... about that. That is ...") are not a repetition.
                single = len(split_sentences(pair)) == 1
                if single and not self.exceptions.suppress(text, start, end, pair):
                    alerts.append(
                        Alert(
                            rule_id=rule.id,
                            level=rule.level,
                            message=format_message(rule.message, current),
                            start=start,
                            end=end,
                            match=pair,
                        )
                    )
                    count = 0
            previous_start, previous = m.start(), current
        return alerts


def compile_repetition(
    definition: Mapping[str, Any],
    tokens: tuple[str, ...],
    ignorecase: bool,
    exceptions: tuple[str, ...],
) -> RepetitionMatcher:
    if not tokens:
        raise RegexError("'tokens' must list at least one pattern")
    pattern = compile_pattern("(" + "|".join(tokens) + ")", _flags(ignorecase))
    alpha = bool(definition.get("alpha", False))
    return RepetitionMatcher(
        pattern, _number(definition, "max"), alpha, ignorecase, compile_exceptions(exceptions)
    )


def _has_capture_group(pattern: str) -> bool:
    # Vale's own count: an unescaped `(` that does not start `(?`.
    return pattern.count("(") > pattern.count("(?") + pattern.count(r"\(")


@dataclass(frozen=True, slots=True)
class ConditionalMatcher:
    first: Pattern
    second: Pattern
    second_has_group: bool
    exceptions: Exceptions

    def _alert(self, rule: Rule, text: str, start: int, end: int) -> Alert:
        match = text[start:end]
        return Alert(
            rule_id=rule.id,
            level=rule.level,
            message=format_message(rule.message, match),
            start=start,
            end=end,
            match=match,
        )

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        firsts = list(self.first.finditer(text))
        if not firsts:
            return []
        if not self.second_has_group and self.second.search(text) is not None:
            return []
        defined: list[str] = [] if state is None else state.sequences
        if self.second_has_group:
            for m in self.second.finditer(text):
                defined.extend(v for v in m.groups() if v)
        alerts = []
        for m in firsts:
            start, end = m.start(), m.end()
            match = text[start:end]
            if self.second_has_group and match in defined:
                continue
            if not self.exceptions.suppress(text, start, end, match):
                alerts.append(self._alert(rule, text, start, end))
        return alerts


def compile_conditional(
    definition: Mapping[str, Any], exceptions: tuple[str, ...]
) -> ConditionalMatcher:
    second = _text(definition, "second")
    return ConditionalMatcher(
        first=compile_pattern(_text(definition, "first")),
        second=compile_pattern(second),
        second_has_group=_has_capture_group(second),
        exceptions=compile_exceptions(exceptions),
    )


@dataclass(frozen=True, slots=True)
class _Pair:
    pattern: Pattern  # groups `a` and `b`, one per side of the pair
    names: tuple[str, str]  # what each side records in the document's sequences


@dataclass(frozen=True, slots=True)
class ConsistencyMatcher:
    pairs: tuple[_Pair, ...]

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        seen: list[str] = [] if state is None else state.sequences
        alerts = []
        for pair in self.pairs:
            last: str | None = None
            for m in pair.pattern.finditer(text):
                side = "a" if m.start("a") != -1 else "b"
                seen.append(pair.names[side == "b"])
                last = text[m.start(side) : m.end(side)]
            if last is None or not all(name in seen for name in pair.names):
                continue
            start = text.find(last)
            alerts.append(
                Alert(
                    rule_id=rule.id,
                    level=rule.level,
                    message=format_message(rule.message, last),
                    start=start,
                    end=start + len(last),
                    match=last,
                )
            )
        return alerts


def compile_consistency(
    definition: Mapping[str, Any], name: str, *, nonword: bool, ignorecase: bool
) -> ConsistencyMatcher:
    either = definition.get("either")
    if not isinstance(either, dict) or not either:
        raise RegexError("'either' must be a mapping of spelling: other spelling")
    word = "" if nonword else r"\b"
    pairs = []
    for number, (first, second) in enumerate(either.items()):
        # Vale decodes an empty side (`term:`) as an empty pattern.
        sides = ("" if side is None else str(side) for side in (first, second))
        body = "(?:(?P<a>{})|(?P<b>{}))".format(*sides)
        pattern = compile_pattern(word + body + word, re.MULTILINE | _flags(ignorecase))
        # Vale numbers the pairs' groups from 2, two by two.
        names = (f"{name}{2 * number + 2}", f"{name}{2 * number + 3}")
        pairs.append(_Pair(pattern, names))
    return ConsistencyMatcher(tuple(pairs))
