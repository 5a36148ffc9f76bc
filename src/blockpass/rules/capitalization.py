"""The capitalization extension point: is a whole scope (usually a heading) in the case the
rule asks for? Follows Vale's ``internal/check/capitalization.go`` and ``variables.go``.

``match`` is ``$sentence``, ``$lower``, ``$upper`` or a regular expression the text must
match. For ``$sentence`` Vale converts the text to sentence case with prose's
``strcase.SentenceConverter`` and compares word by word:

- a word is what ``exceptions|[\\p{N}\\p{L}*]+[^\\s]*`` finds, so a listed exception (`gRPC`,
  `Visual Studio`) is one word;
- the expected form of a word is the exception as listed when it equals one (ignoring
  case), the word itself when an exception, read as a pattern, occurs inside it (so with
  the exception ``I`` any word holding a capital I stands as written, as in Vale), else
  capitalised when it is first or follows an *indicator* (a word ending with one of
  ``indicators``, or a numbered first word like ``8.``), else lower case;
- a first word neither as expected nor an exception nor capitalised fails at once;
  otherwise the text passes when at least ``threshold`` (0.8) of its words are as
  expected or exceptions.

``$title`` needs prose's part-of-speech tagger to decide which words stay lower case; a
rule using it is kept but not run (``UnsupportedRule``), so that it goes to the model.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from blockpass.rules.alerts import Alert, LintState, format_message
from blockpass.rules.engine import exception_pattern
from blockpass.rules.literals import PreparedText
from blockpass.rules.patterns import Pattern, RegexError, compile_pattern

if TYPE_CHECKING:
    from blockpass.rules.vale import Rule

__all__ = ["CapitalizationMatcher", "UnsupportedRule", "compile_capitalization", "go_title"]

# Vale's `[\p{N}\p{L}*]+[^\s]*`: letters, digits or `*`, then anything up to a space.
_WORD = r"(?:[^\W_]|\*)+\S*"
_NUMBERED = re.compile(r"\d+\.")


class UnsupportedRule(RegexError):
    """The rule is valid but needs something this engine does not have."""


def _separates(char: str) -> bool:
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdigit():
        return False
    return char.isspace()


def go_title(text: str) -> str:
    """Go's ``strings.Title``: a letter after a separator (see Go's ``isSeparator``) is upper."""
    out = []
    previous = " "
    for char in text:
        out.append(char.upper() if _separates(previous) else char)
        previous = char
    return "".join(out)


def _capitalised(word: str) -> str:
    """prose's ``ToTitle(word, strict)``: first character upper, the rest lower."""
    return word[:1].upper() + word[1:].lower()


@dataclass(frozen=True, slots=True)
class _SentenceCase:
    vocab: tuple[tuple[str, Pattern | None], ...]  # longest first
    tokens: Pattern
    indicators: tuple[str, ...]

    def _in_vocab(self, word: str) -> str:
        for term, pattern in self.vocab:
            if term.casefold() == word.casefold():
                return term
            if pattern is not None and pattern.search(word) is not None:
                return word
        return ""

    def _indicates(self, word: str, index: int) -> bool:
        if any(word.endswith(s) for s in self.indicators):
            return True
        return index == 0 and _NUMBERED.search(word) is not None

    def convert(self, text: str) -> str:
        words = [text[m.start() : m.end()] for m in self.tokens.finditer(text)]
        made = []
        for i, word in enumerate(words):
            if entry := self._in_vocab(word):
                made.append(entry)
            elif i == 0 or self._indicates(words[i - 1], i - 1):
                made.append(_capitalised(word))
            else:
                made.append(word.lower())
        return " ".join(made)


def _sentence_case(vocab: Sequence[str], indicators: Sequence[str]) -> _SentenceCase:
    ordered = sorted(vocab, key=len, reverse=True)
    compiled: list[tuple[str, Pattern | None]] = []
    for term in ordered:
        try:
            compiled.append((term, compile_pattern(term)))
        except RegexError:
            compiled.append((term, None))  # prose ignores a term that is no pattern
    prefix = r"\b(?:" + "|".join(ordered) + r")\b|" if ordered else ""
    # Case-sensitive, as prose tokenised when the packages' fixtures were made; its current
    # `(?i)` reads `vs.` as the exception `VS`, and Google's own `# This vs. heading` fails.
    tokens = compile_pattern(prefix + _WORD)
    return _SentenceCase(tuple(compiled), tokens, tuple(indicators))


@dataclass(frozen=True, slots=True)
class CapitalizationMatcher:
    style: str  # $sentence, $lower, $upper, or "" for a pattern
    words: Pattern
    exceptions: Pattern | None
    threshold: float
    sentence_case: _SentenceCase | None = None
    pattern: Pattern | None = None
    source: str = ""
    # `prefix:` a pattern for a leading part left out of the check ("a. " before a title).
    prefix: Pattern | None = None

    def _excepted(self, word: str) -> bool:
        return self.exceptions is not None and self.exceptions.search(word) is not None

    def _sentence(self, text: str) -> tuple[str, bool]:
        assert self.sentence_case is not None
        expected = self.sentence_case.convert(text)
        wanted = [expected[m.start() : m.end()] for m in self.words.finditer(expected)]
        count = words = 0
        for i, m in enumerate(self.words.finditer(text)):
            word = text[m.start() : m.end()]
            if i >= len(wanted) or word == wanted[i] or self._excepted(word):
                count += 1
            elif i == 0 and word != go_title(word.lower()):
                return expected, False
            words += 1
        # Go divides 0 by 0 into NaN, which is below any threshold.
        return expected, words > 0 and count / words >= self.threshold

    def check(self, text: str) -> tuple[str, bool]:
        if self.style == "$sentence":
            return self._sentence(text)
        if self.style in ("$lower", "$upper"):
            expected = text.lower() if self.style == "$lower" else text.upper()
            return expected, text == expected or self._excepted(text)
        assert self.pattern is not None
        return self.source, self.pattern.search(text) is not None or self._excepted(text)

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        lead = self.prefix.match(text) if self.prefix is not None else None
        expected, matched = self.check(text[lead.end() :] if lead is not None else text)
        if matched:
            return []
        replacements: tuple[str, ...] = ()
        if rule.action.name == "replace":
            replacements = rule.action.params
            if not replacements and self.style == "$sentence":
                replacements = (expected,)
        return [
            Alert(
                rule_id=rule.id,
                level=rule.level,
                message=format_message(rule.message, text, expected),
                start=0,
                end=len(text),
                match=text,
                replacements=replacements,
            )
        ]


def compile_capitalization(
    definition: Mapping[str, Any], exceptions: tuple[str, ...]
) -> CapitalizationMatcher:
    match = str(definition.get("match", "") or "")
    if match == "$title":
        raise UnsupportedRule("'match: $title' needs a part-of-speech tagger")
    if not match:
        raise RegexError("'match' is required")
    try:
        threshold = float(definition.get("threshold", 0) or 0) or 0.8
    except (TypeError, ValueError) as exc:
        raise RegexError(f"'threshold' must be a number: {exc}") from exc
    indicators = definition.get("indicators") or ()
    indicators = tuple(
        str(i) for i in (indicators if isinstance(indicators, list) else [indicators])
    )
    prefix = compile_pattern(str(definition["prefix"])) if definition.get("prefix") else None
    excepted = exception_pattern(exceptions) if exceptions else ""
    words = compile_pattern((excepted + "|" if excepted else "") + _WORD)
    exceptions_re = compile_pattern(excepted, re.MULTILINE) if excepted else None
    if match == "$sentence":
        sentence_case = _sentence_case(exceptions, indicators)
        return CapitalizationMatcher(
            match, words, exceptions_re, threshold, sentence_case, prefix=prefix
        )
    if match in ("$lower", "$upper"):
        return CapitalizationMatcher(match, words, exceptions_re, threshold, prefix=prefix)
    return CapitalizationMatcher(
        "",
        words,
        exceptions_re,
        threshold,
        pattern=compile_pattern(match),
        source=match,
        prefix=prefix,
    )
