"""The arithmetic of ``metric`` rules, parsed and evaluated without ``eval``.

Vale evaluates ``formula`` and then ``"%f <condition>"`` as Tengo scripts with the ``math``
module imported (``internal/check/metric.go``). This is the part of Tengo's expression
language that formulas and conditions use: numbers, variables, ``math.<function>(...)`` and
``math.<constant>``, ``+ - * / %``, comparisons, ``&& || !``, ``? :`` and parentheses, with
Tengo's (Go's) precedence. As in Tengo, an integer literal is an int and int with int
stays an int (``7 / 2`` is 3); anything with a float is a float, and float division by zero
gives an infinity instead of failing. A formula that does not parse, or names a variable or
function that does not exist, is a ``FormulaError`` with the column where it went wrong.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Expression", "FormulaError", "parse"]

Value = int | float | bool
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_]\w*)|(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%()<>!?:.,]))"
)
_MATH_FUNCTIONS: dict[str, Callable[..., float]] = {
    "abs": abs,
    "ceil": math.ceil,
    "exp": math.exp,
    "floor": math.floor,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "max": max,
    "min": min,
    "pow": math.pow,
    "round": round,
    "sqrt": math.sqrt,
    "trunc": math.trunc,
}
_MATH_CONSTANTS = {"pi": math.pi, "e": math.e}
# Binary operators by precedence, loosest first (Go's table, as Tengo uses it).
_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("==", "!=", "<", "<=", ">", ">="),
    ("+", "-"),
    ("*", "/", "%"),
)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class FormulaError(ValueError):
    """The expression cannot be evaluated; the message says where and why."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    column: int


Node = tuple[object, ...]


def _tokens(source: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(source):
        if not source[pos:].strip():
            break
        found = _TOKEN.match(source, pos)
        if found is None or found.lastgroup is None:
            column = pos + len(source[pos:]) - len(source[pos:].lstrip()) + 1
            raise FormulaError(f"unexpected {source[column - 1]!r} at column {column}")
        kind = found.lastgroup
        tokens.append(_Token(kind, found.group(kind), found.start(kind) + 1))
        pos = found.end()
    tokens.append(_Token("end", "", len(source) + 1))
    return tokens


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokens(source)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def take(self, text: str | None = None) -> _Token:
        token = self.token
        if text is not None and token.text != text:
            shown = repr(token.text) if token.kind != "end" else "the end"
            raise FormulaError(f"expected {text!r} at column {token.column}, found {shown}")
        self.index += 1
        return token

    def expression(self) -> Node:
        condition = self.binary(0)
        if self.token.text != "?":
            return condition
        self.take("?")
        chosen = self.expression()
        self.take(":")
        return ("?", condition, chosen, self.expression())

    def binary(self, level: int) -> Node:
        if level == len(_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.token.kind == "op" and self.token.text in _LEVELS[level]:
            operator_token = self.take()
            left = ("binary", operator_token.text, left, self.binary(level + 1))
        return left

    def unary(self) -> Node:
        if self.token.kind == "op" and self.token.text in ("-", "+", "!"):
            return ("unary", self.take().text, self.unary())
        return self.primary()

    def primary(self) -> Node:
        token = self.take()
        if token.kind == "number":
            is_float = any(c in token.text for c in ".eE")
            return ("value", float(token.text) if is_float else int(token.text))
        if token.text == "(":
            inner = self.expression()
            self.take(")")
            return inner
        if token.kind == "name" and token.text == "math":
            return self.math()
        if token.kind == "name":
            if token.text in ("true", "false"):
                return ("value", token.text == "true")
            return ("name", token.text, token.column)
        shown = repr(token.text) if token.kind != "end" else "the end"
        raise FormulaError(f"unexpected {shown} at column {token.column}")

    def math(self) -> Node:
        self.take(".")
        member = self.take()
        if member.text in _MATH_CONSTANTS and self.token.text != "(":
            return ("value", _MATH_CONSTANTS[member.text])
        if member.text not in _MATH_FUNCTIONS:
            raise FormulaError(f"math has no {member.text!r} (column {member.column})")
        self.take("(")
        arguments = [self.expression()]
        while self.token.text == ",":
            self.take(",")
            arguments.append(self.expression())
        self.take(")")
        return ("call", member.text, *arguments)


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    tree: Node

    @property
    def names(self) -> frozenset[str]:
        found: set[str] = set()
        _collect_names(self.tree, found)
        return frozenset(found)

    def evaluate(self, variables: Mapping[str, float]) -> Value:
        return _evaluate(self.tree, variables)


def parse(source: str) -> Expression:
    if not source.strip():
        raise FormulaError("empty expression")
    parser = _Parser(source)
    tree = parser.expression()
    if parser.token.kind != "end":
        raise FormulaError(f"unexpected {parser.token.text!r} at column {parser.token.column}")
    return Expression(source, tree)


def _collect_names(node: Node, found: set[str]) -> None:
    if node[0] == "name":
        found.add(str(node[1]))
    for child in node[1:]:
        if isinstance(child, tuple):
            _collect_names(child, found)


def _number(value: Value) -> int | float:
    if isinstance(value, bool):
        raise FormulaError("a true/false value cannot take part in arithmetic")
    return value


def _truthy(value: Value) -> bool:
    return bool(value) and not (isinstance(value, float) and math.isnan(value))


def _divide(left: int | float, right: int | float, modulo: bool) -> int | float:
    if isinstance(left, int) and isinstance(right, int):
        if right == 0:
            raise FormulaError("integer division by zero")
        # Go truncates toward zero; Python's // and % floor.
        quotient = abs(left) // abs(right) * (1 if (left < 0) == (right < 0) else -1)
        return left - quotient * right if modulo else quotient
    if modulo:
        raise FormulaError("'%' needs integers")
    if right == 0:
        return math.nan if left == 0 or math.isnan(left) else math.copysign(math.inf, left)
    return left / right


def _child(node: Node, index: int) -> Node:
    child = node[index]
    assert isinstance(child, tuple)
    return child


def _evaluate(node: Node, variables: Mapping[str, float]) -> Value:
    kind = node[0]
    if kind == "value":
        value = node[1]
        assert isinstance(value, int | float | bool)
        return value
    if kind == "name":
        name = str(node[1])
        if name not in variables:
            raise FormulaError(f"unknown variable {name!r} (column {node[2]})")
        return variables[name]
    if kind == "unary":
        operand = _evaluate(_child(node, 2), variables)
        if node[1] == "!":
            return not _truthy(operand)
        number = _number(operand)
        return -number if node[1] == "-" else number
    if kind == "?":
        chosen = 2 if _truthy(_evaluate(_child(node, 1), variables)) else 3
        return _evaluate(_child(node, chosen), variables)
    if kind == "call":
        arguments = [_number(_evaluate(_child(node, i), variables)) for i in range(2, len(node))]
        try:
            result: Value = _MATH_FUNCTIONS[str(node[1])](*arguments)
        except (TypeError, ValueError, OverflowError) as exc:
            raise FormulaError(f"math.{node[1]}: {exc}") from None
        return result
    operator_text = str(node[1])
    left = _evaluate(_child(node, 2), variables)
    if operator_text in ("&&", "||"):
        if _truthy(left) == (operator_text == "||"):
            return _truthy(left)
        return _truthy(_evaluate(_child(node, 3), variables))
    right = _evaluate(_child(node, 3), variables)
    if operator_text in _COMPARE:
        both_numbers = not isinstance(left, bool) and not isinstance(right, bool)
        if not both_numbers and operator_text not in ("==", "!="):
            raise FormulaError(f"cannot order true/false with {operator_text!r}")
        return _COMPARE[operator_text](left, right)
    a, b = _number(left), _number(right)
    if operator_text in ("/", "%"):
        return _divide(a, b, operator_text == "%")
    return a + b if operator_text == "+" else a - b if operator_text == "-" else a * b
