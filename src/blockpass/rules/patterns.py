"""Vale's regular expressions, compiled and analysed for Python.

Vale compiles rules with regexp2, a .NET-style backtracking engine. Python's ``re`` reads
nearly all of the same syntax; ``compile_pattern`` translates the one spelling that differs
and falls back to the third-party ``regex`` module (only if it is installed) for the rest.

Two analyses make matching cheap enough to run on every block of every request:

- ``without_captures``: sre scans a pattern with capturing groups several times slower than
  the same pattern without them (a 80-key swap table: about 10x), so the scan runs without
  them and only a match is re-read with groups.
- ``required_literals``: like Vale's ``MightMatch``, a necessary condition, sets of lowercase
  literals of which the text must contain one each, so most rules never run their regex.

The analyses read the pattern with a small parser that knows just enough syntax to be sound:
when it meets something it does not understand it gives up and the rule simply always runs.
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

__all__ = [
    "Match",
    "Pattern",
    "RegexError",
    "compile_pattern",
    "fold_case",
    "required_literals",
    "without_captures",
]


class RegexError(ValueError):
    """A rule's pattern cannot be compiled here; the message says why."""


class Match(Protocol):
    def start(self, group: int | str = 0, /) -> int: ...
    def end(self, group: int | str = 0, /) -> int: ...
    @property
    def lastgroup(self) -> str | None: ...


class Pattern(Protocol):
    def finditer(self, string: str, /) -> Iterator[Match]: ...
    def search(self, string: str, /) -> Match | None: ...
    def match(self, string: str, pos: int = 0, /) -> Match | None: ...


def _optional_regex_module() -> ModuleType | None:
    try:
        return importlib.import_module("regex")
    except ImportError:
        return None


_REGEX = _optional_regex_module()
# .NET names a group `(?<name>...)`; re only knows `(?P<name>...)`.
_NAMED_GROUP = re.compile(r"(?<!\\)\(\?<(?=[A-Za-z_])")


def compile_pattern(pattern: str, flags: int = 0) -> Pattern:
    translated = _NAMED_GROUP.sub("(?P<", pattern)
    try:
        # re warns (FutureWarning) where it would read a class like `[[:alpha:]]` differently
        # from other engines; a rule matched under a different reading is worse than none.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(translated, flags)
    except (re.error, Warning, OverflowError, RecursionError) as exc:
        first_error = f"{type(exc).__name__}: {exc}"
    if _REGEX is not None:
        try:
            compiled: Pattern = _REGEX.compile(pattern, flags)
            return compiled
        except Exception as exc:  # the regex module raises its own error type
            raise RegexError(f"{first_error}; regex module: {exc}") from exc
    raise RegexError(first_error)


# Characters that re's IGNORECASE matches to an ASCII letter although str.lower() does not
# turn them into one; folding them keeps the literal prefilter a necessary condition.
_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def fold_case(text: str) -> str:
    """The text as the literal prefilter compares it."""
    return text.lower() if text.isascii() else text.translate(_FOLD).lower()


class _Unknown(Exception):
    """Syntax the parser does not model; the caller falls back to no analysis."""


@dataclass(frozen=True, slots=True)
class _Lit:
    char: str


@dataclass(frozen=True, slots=True)
class _Other:
    """Consumes text, but no fixed literal: a class, `.`, `\\d`, a back-reference."""


@dataclass(frozen=True, slots=True)
class _Zero:
    """Consumes nothing: anchors, `\\b`, lookarounds, inline flags, comments."""


@dataclass(frozen=True, slots=True)
class _Group:
    branches: tuple[tuple[_Node, ...], ...]


@dataclass(frozen=True, slots=True)
class _Repeat:
    node: _Node
    minimum: int


_Node = _Lit | _Other | _Zero | _Group | _Repeat
_QUANTIFIER = re.compile(r"\{(\d*)(?:,(\d*))?\}")
_ZERO_ESCAPES = frozenset("bBAZzG")


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.p = pattern
        self.i = 0
        self.captures: list[int] = []  # offsets of unnamed capturing `(`
        self.backrefs = False

    def parse(self) -> tuple[tuple[_Node, ...], ...]:
        branches = self._alternation()
        if self.i != len(self.p):
            raise _Unknown(self.p)
        return branches

    def _alternation(self) -> tuple[tuple[_Node, ...], ...]:
        branches = [self._sequence()]
        while self.i < len(self.p) and self.p[self.i] == "|":
            self.i += 1
            branches.append(self._sequence())
        return tuple(branches)

    def _sequence(self) -> tuple[_Node, ...]:
        items: list[_Node] = []
        while self.i < len(self.p) and self.p[self.i] not in "|)":
            items.append(self._quantified(self._atom()))
        return tuple(items)

    def _atom(self) -> _Node:
        p, c = self.p, self.p[self.i]
        if c == "\\":
            if self.i + 1 >= len(p):
                raise _Unknown(p)
            nxt = p[self.i + 1]
            self.i += 2
            if nxt.isdigit():
                self.backrefs = True
            if nxt in _ZERO_ESCAPES:
                return _Zero()
            if nxt.isascii() and nxt.isalnum():
                if nxt in "pPxuUNk" and self.i < len(p) and p[self.i] in "{<":
                    self.i = p.index("}" if p[self.i] == "{" else ">", self.i) + 1
                return _Other()
            return _Lit(nxt) if nxt.isascii() else _Other()
        if c == "[":
            self._skip_class()
            return _Other()
        if c == "(":
            return self._group()
        self.i += 1
        if c in "^$":
            return _Zero()
        if c == "." or not c.isascii():
            return _Other()
        if c in "*+?":
            raise _Unknown(p)
        return _Lit(c)

    def _skip_class(self) -> None:
        p, j = self.p, self.i + 1
        if j < len(p) and p[j] == "^":
            j += 1
        if j < len(p) and p[j] == "]":
            j += 1
        while j < len(p) and p[j] != "]":
            j += 2 if p[j] == "\\" else 1
        if j >= len(p):
            raise _Unknown(p)
        self.i = j + 1

    def _group(self) -> _Node:
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
                return _Other() if rest.startswith("?P=") else _Zero()
            else:
                flags = re.match(r"\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])", rest)
                if flags is None or "x" in (flags.group(1) or ""):
                    raise _Unknown(p)  # conditionals, verbose mode: not modelled
                self.i += flags.end()
                if flags.group(3) == ")":
                    return _Zero()
        else:
            self.captures.append(start)
        branches = self._alternation()
        if self.i >= len(p) or p[self.i] != ")":
            raise _Unknown(p)
        self.i += 1
        return _Zero() if zero else _Group(branches)

    def _quantified(self, node: _Node) -> _Node:
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
        return _Repeat(node, minimum)


_Conjunction = list[frozenset[str]]


def _sequence_requirement(items: tuple[_Node, ...]) -> _Conjunction:
    conj: _Conjunction = []
    run: list[str] = []

    def flush() -> None:
        if run:
            conj.append(frozenset({"".join(run).lower()}))
            run.clear()

    for item in items:
        if isinstance(item, _Lit):
            run.append(item.char)
        elif isinstance(item, _Zero):
            continue  # consumes nothing, so the literals either side stay adjacent
        elif isinstance(item, _Repeat):
            if item.minimum > 0 and isinstance(item.node, _Lit):
                run.append(item.node.char)
            flush()
            if item.minimum > 0 and isinstance(item.node, _Group):
                conj.extend(_alternation_requirement(item.node.branches))
        elif isinstance(item, _Group):
            flush()
            conj.extend(_alternation_requirement(item.branches))
        else:
            flush()
    flush()
    return conj


def _best(conj: _Conjunction) -> frozenset[str]:
    return max(conj, key=lambda s: (min(len(x) for x in s), -len(s)))


def _alternation_requirement(branches: tuple[tuple[_Node, ...], ...]) -> _Conjunction:
    requirements = [_sequence_requirement(b) for b in branches]
    if len(requirements) == 1:
        return requirements[0]
    if any(not r for r in requirements):
        return []
    return [frozenset().union(*(_best(r) for r in requirements))]


def _minimal(literals: frozenset[str]) -> tuple[str, ...]:
    # A literal containing another member is implied by it: checking the shorter suffices.
    kept = [x for x in literals if not any(y != x and y in x for y in literals)]
    return tuple(sorted(kept, key=lambda x: (-len(x), x)))


def required_literals(pattern: str) -> tuple[tuple[str, ...], ...]:
    """Groups of lowercase literals: any text the pattern matches contains one of each group.

    Empty when nothing can be said (the pattern then always has to run).
    """
    try:
        conj = _alternation_requirement(_Parser(pattern).parse())
    except (_Unknown, ValueError, IndexError):
        return ()
    groups = {_minimal(s) for s in conj if all(s)}
    return tuple(sorted(groups, key=len))


def without_captures(pattern: str) -> str:
    """The same pattern with unnamed capturing groups made non-capturing, when that cannot
    change what it matches (no back-references); otherwise the pattern unchanged."""
    parser = _Parser(pattern)
    try:
        parser.parse()
    except (_Unknown, ValueError, IndexError):
        return pattern
    if parser.backrefs or not parser.captures:
        return pattern
    out, last = [], 0
    for offset in parser.captures:
        out.append(pattern[last:offset] + "(?:")
        last = offset + 1
    out.append(pattern[last:])
    return "".join(out)
