"""Vale's regular expressions, compiled and read for Python.

Vale compiles rules with regexp2, a .NET-style backtracking engine. Python's ``re`` reads
nearly all of the same syntax; ``compile_pattern`` translates the one spelling that differs
and falls back to the third-party ``regex`` module for the rest.

Every match runs under ``regex`` with a time limit: a backtracking engine can take hours on
a pattern written to (``(a|aa)+$``), and a rule file is outside material. A rule whose
pattern runs past ``MATCH_SECONDS`` on one text raises ``SlowPattern``; ``re`` has no time
limit, so it only checks and reads the pattern.

``parse_pattern`` reads a pattern into a small tree that knows just enough syntax to reason
about soundly (literals, groups, quantifiers, zero-width assertions); anything else raises
``UnsupportedSyntax`` and the caller skips its optimisation. Two uses:

- ``without_captures`` here: sre scans a pattern with capturing groups several times slower
  than the same pattern without them (an 80-key swap table: about 10x), so the scan runs
  without them and only a match is re-read with groups;
- the literal pre-check in ``literals.py``.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import regex  # type: ignore[import-untyped]

__all__ = [
    "MATCH_SECONDS",
    "Group",
    "Lit",
    "Match",
    "Node",
    "Other",
    "ParsedPattern",
    "Pattern",
    "RegexError",
    "Repeat",
    "SlowPattern",
    "UnsupportedSyntax",
    "Zero",
    "compile_pattern",
    "parse_pattern",
    "without_captures",
]


class RegexError(ValueError):
    """A rule's pattern cannot be compiled here; the message says why."""


class Match(Protocol):
    def start(self, group: int | str = 0, /) -> int: ...
    def end(self, group: int | str = 0, /) -> int: ...
    def groups(self) -> tuple[str | None, ...]: ...
    @property
    def lastgroup(self) -> str | None: ...


class Pattern(Protocol):
    def finditer(self, string: str, /) -> Iterator[Match]: ...
    def search(self, string: str, /) -> Match | None: ...
    def match(self, string: str, pos: int = 0, /) -> Match | None: ...


# Far beyond what any sane pattern takes on a block (milliseconds), far below a hang.
MATCH_SECONDS = 5.0
# .NET names a group `(?<name>...)`; re only knows `(?P<name>...)`.
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z_])")


class SlowPattern(Exception):
    """A pattern ran past ``MATCH_SECONDS`` on one text: it backtracks catastrophically."""


class _Bounded:
    """A ``regex`` pattern whose every match gives up after ``MATCH_SECONDS``."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled

    def finditer(self, string: str, /) -> Iterator[Match]:
        found = self._compiled.finditer(string, timeout=MATCH_SECONDS)
        while True:
            try:
                yield next(found)
            except StopIteration:
                return
            except TimeoutError:
                raise SlowPattern(self._compiled.pattern) from None

    def search(self, string: str, /) -> Match | None:
        try:
            found: Match | None = self._compiled.search(string, timeout=MATCH_SECONDS)
        except TimeoutError:
            raise SlowPattern(self._compiled.pattern) from None
        return found

    def match(self, string: str, pos: int = 0, /) -> Match | None:
        try:
            found: Match | None = self._compiled.match(string, pos, timeout=MATCH_SECONDS)
        except TimeoutError:
            raise SlowPattern(self._compiled.pattern) from None
        return found


def compile_pattern(pattern: str, flags: int = 0) -> Pattern:
    translated = _NAMED_GROUP.sub("(?P<", pattern)
    re_error = ""
    try:
        # re warns (FutureWarning) where it would read a class like `[[:alpha:]]` differently
        # from other engines; a rule matched under a different reading is worse than none.
        # Only FutureWarning: an "error" filter on every warning would also turn whatever
        # the garbage collector finalises meanwhile (an unclosed stream's ResourceWarning)
        # into an exception reported against this code.
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            re.compile(translated, flags)
    except (re.error, FutureWarning, OverflowError, RecursionError) as exc:
        re_error = f"{type(exc).__name__}: {exc}; "
    try:
        # What re reads, regex reads alike (its version 0 is re's syntax and semantics).
        return _Bounded(regex.compile(pattern if re_error else translated, flags))
    except Exception as exc:  # the regex module raises its own error type
        raise RegexError(f"{re_error}regex module: {exc}") from exc


class UnsupportedSyntax(Exception):
    """Syntax the parser does not model; the caller falls back to no analysis."""


@dataclass(frozen=True, slots=True)
class Lit:
    char: str


@dataclass(frozen=True, slots=True)
class Other:
    """Consumes text, but no fixed literal: a class, `.`, `\\d`, a back-reference."""


@dataclass(frozen=True, slots=True)
class Zero:
    """Consumes nothing: anchors, `\\b` (``boundary``), lookarounds, inline flags, comments."""

    boundary: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    branches: tuple[tuple[Node, ...], ...]


@dataclass(frozen=True, slots=True)
class Repeat:
    node: Node
    minimum: int


Node = Lit | Other | Zero | Group | Repeat
_QUANTIFIER = re.compile(r"\{(\d*)(?:,(\d*))?\}")
_ZERO_ESCAPES = frozenset("BAZzG")


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.captures: list[int] = []  # offsets of unnamed capturing `(`
        self.backrefs = False

    def parse(self) -> tuple[tuple[Node, ...], ...]:
        branches = self._alternation()
        if self.i != len(self.p):
            raise UnsupportedSyntax(self.p)
        return branches

    def _alternation(self) -> tuple[tuple[Node, ...], ...]:
        branches = [self._sequence()]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            branches.append(self._sequence())
        return tuple(branches)

    def _sequence(self) -> tuple[Node, ...]:
        items: list[Node] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            items.append(self._quantified(self._atom()))
        return tuple(items)

    def _atom(self) -> Node:
        p, c = self.p, self.p[self.i]
        if c == "\\":
            if self.i + 1 >= len(p):
                raise UnsupportedSyntax(p)
            nxt = p[self.i + 1]
            self.i += 2
            if nxt.isdigit():
                self.backrefs = True
            if nxt == "b":
                return Zero(boundary=True)
            if nxt in _ZERO_ESCAPES:
                return Zero()
            if nxt.isascii() and nxt.isalnum():
                if nxt in "pPxuUNk" and self.i < len(p) and p[self.i] in "{<":
                    self.i = p.index("}" if p[self.i] == "{" else ">", self.i) + 1
                return Other()
            return Lit(nxt) if nxt.isascii() else Other()
        if c == "[":
            self._skip_class()
            return Other()
        if c == "(":
            return self._group()
        self.i += 1
        if c in "^$":
            return Zero()
        if c == "." or not c.isascii():
            return Other()
        if c in "*+?":
            raise UnsupportedSyntax(p)
        return Lit(c)

    def _skip_class(self) -> None:
        p, j = self.p, self.i + 1
        if j < len(p) and p[j] == "^":
            j += 1
        if j < len(p) and p[j] == "]":
            j += 1
        while j < len(p) and p[j] != "]":
            j += 2 if p[j] == "\\" else 1
        if j >= len(p):
            raise UnsupportedSyntax(p)
        self.i = j + 1

    def _group(self) -> Node:
        p, start = self.p, self.i
        self.i += 1
        zero = False
        if p.startswith("?", self.i):
            rest = p[self.i :]
            if rest.startswith(("?:", "?>")):
                self.i += 2
            elif rest.startswith(("?=", "?!")):
                self.i, zero = self.i + 2, True
            elif rest.startswith(("?<=", "?<!")):
                self.i, zero = self.i + 3, True
            elif rest.startswith(("?P<", "?<")):
                self.i = p.index(">", self.i) + 1
            elif rest.startswith(("?P=", "?#")):
                self.backrefs = self.backrefs or rest.startswith("?P=")
                self.i = p.index(")", self.i) + 1
                return Other() if rest.startswith("?P=") else Zero()
            else:
                flags = re.match(r"\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", rest)
                if flags is None or "x" in (flags.group(1) or ""):
                    raise UnsupportedSyntax(p)  # conditionals, verbose mode: not modelled
                self.i += flags.end()
                if flags.group(3) == ")":
                    return Zero()
        else:
            self.captures.append(start)
        branches = self._alternation()
        if self.i >= len(p) or p[self.i] != ")":
            raise UnsupportedSyntax(p)
        self.i += 1
        return Zero() if zero else Group(branches)

    def _quantified(self, node: Node) -> Node:
        p = self.p
        if self.i >= len(p) or p[self.i] not in "*+?{":
            return node
        c = p[self.i]
        if c == "{":
            m = _QUANTIFIER.match(p, self.i)
            if m is None:
                return node  # a literal `{`, read as the next atom
            minimum, self.i = int(m.group(1) or 0), m.end()
        else:
            minimum, self.i = (1 if c == "+" else 0), self.i + 1
        if self.i < len(p) and p[self.i] in "?+":
            self.i += 1  # lazy or possessive: same text, same literals
        return Repeat(node, minimum)


@dataclass(frozen=True, slots=True)
class ParsedPattern:
    branches: tuple[tuple[Node, ...], ...]
    captures: tuple[int, ...]  # offsets of the unnamed capturing `(`
    backrefs: bool


def parse_pattern(pattern: str) -> ParsedPattern:
    """Raises ``UnsupportedSyntax`` for anything the tree does not model."""
    parser = _Parser(pattern)
    try:
        branches = parser.parse()
    except (ValueError, IndexError) as exc:
        raise UnsupportedSyntax(pattern) from exc
    return ParsedPattern(branches, tuple(parser.captures), parser.backrefs)


def without_captures(pattern: str) -> str:
    """The same pattern with unnamed capturing groups made non-capturing, when that cannot
    change what it matches (no back-references); otherwise the pattern unchanged."""
    try:
        parsed = parse_pattern(pattern)
    except UnsupportedSyntax:
        return pattern
    if parsed.backrefs or not parsed.captures:
        return pattern
    out, last = [], 0
    for offset in parsed.captures:
        out.append(pattern[last:offset] + "(?:")
        last = offset + 1
    out.append(pattern[last:])
    return "".join(out)
