"""The document-level extension points: ``metric`` and ``readability``.

Both follow Vale's ``internal/check/metric.go`` (errata-ai/vale @ 2e356abbfd59) and
``readability.go`` (@ 29acc0a47697): whatever ``scope`` the rule gives, they read the
document's summary (its prose paragraphs, list items and quotes joined by blank lines) and
report at most one alert, at line 1, column 1, with the
computed value in the message as ``%.2f``. Nothing is reported for a document without a
word in its prose (Vale has no value to give either: its formulas then divide by zero).

metric       ``formula`` over the summary's counts (``textstats.py``) and the document's
             blocks (``heading_h1`` … ``heading_h6``, written ``heading.h1`` too, ``list``,
             ``blockquote``, ``pre``); the alert when ``<value> <condition>`` holds, the
             value written with six decimals first as Vale's ``%f`` does.
readability  the mean of the named ``metrics`` (Gunning Fog, Coleman-Liau,
             Flesch-Kincaid, SMOG, Automated Readability); the alert when above ``grade``.

A formula or condition that does not parse, names an unknown variable or a missing
``math`` function, is the rule file's error (``FormulaError``), reported in one line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from blockpass.errors import UserInputError
from blockpass.rules.alerts import Alert, LintState, format_message
from blockpass.rules.capitalization import UnsupportedRule
from blockpass.rules.formula import Expression, FormulaError, parse
from blockpass.rules.literals import PreparedText
from blockpass.rules.textstats import READABILITY_METRICS, TextStats, text_stats

if TYPE_CHECKING:
    from blockpass.rules.vale import Rule

__all__ = [
    "BLOCK_VARIABLES",
    "DOCUMENT_LEVEL",
    "MetricMatcher",
    "ReadabilityMatcher",
    "compile_metric",
    "compile_readability",
]

DOCUMENT_LEVEL = frozenset({"metric", "readability"})
# metric.go's `variables`: block counts that are 0 when the document has none.
BLOCK_VARIABLES = (
    "pre",
    "list",
    "blockquote",
    *(f"heading_h{level}" for level in range(1, 7)),
)
_HEADING = re.compile(r"heading\.(h[1-6])")
_KNOWN = frozenset((*TextStats().variables(), *BLOCK_VARIABLES))
_RESULT = "__result__"

_stats = lru_cache(maxsize=8)(text_stats)


def _go_float(value: float, decimals: int) -> str:
    """Go's ``%.<n>f``: infinities and NaN are spelt ``+Inf``, ``-Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:.{decimals}f}"


def _alert(rule: Rule, value: float) -> Alert:
    message = format_message(rule.message, _go_float(value, 2))
    return Alert(rule_id=rule.id, level=rule.level, message=message, start=0, end=0, match="")


@dataclass(frozen=True, slots=True)
class MetricMatcher:
    formula: Expression
    condition: Expression

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        stats = _stats(text)
        if not stats.words:
            return []
        counts = state.counts if state is not None else {}
        variables = {name: float(counts.get(name, 0)) for name in BLOCK_VARIABLES}
        variables.update(stats.variables())
        try:
            value = self.formula.evaluate(variables)
            if isinstance(value, bool):
                raise FormulaError("the formula gives true/false, not a number")
            # Vale compares the value as `%f` wrote it: six decimals.
            shown = float(_go_float(value, 6).replace("Inf", "inf").replace("NaN", "nan"))
            holds = self.condition.evaluate({**variables, _RESULT: shown})
        except FormulaError as exc:
            raise UserInputError(f"{rule.path}: rule {rule.id}: {exc}") from None
        if not isinstance(holds, bool):
            raise UserInputError(f"{rule.path}: rule {rule.id}: the condition is no comparison")
        return [_alert(rule, value)] if holds else []


def _expression(source: str, what: str) -> Expression:
    try:
        expression = parse(source)
    except FormulaError as exc:
        raise FormulaError(f"{what} {source.strip()!r}: {exc}") from None
    unknown = sorted(expression.names - _KNOWN - {_RESULT})
    if unknown:
        known = ", ".join(sorted(_KNOWN))
        raise FormulaError(f"{what} {source.strip()!r}: unknown variable {unknown[0]!r} ({known})")
    return expression


def compile_metric(definition: Mapping[str, Any]) -> MetricMatcher:
    formula = definition.get("formula")
    condition = definition.get("condition")
    if not isinstance(formula, str | int | float) or isinstance(formula, bool):
        raise FormulaError("'formula' must be an expression such as 'words / sentences'")
    if not isinstance(condition, str) or not condition.strip():
        raise FormulaError("'condition' must be a comparison such as '> 8'")
    return MetricMatcher(
        formula=_expression(_HEADING.sub(r"heading_\1", str(formula)), "formula"),
        condition=_expression(f"{_RESULT} {condition}", "condition"),
    )


@dataclass(frozen=True, slots=True)
class ReadabilityMatcher:
    metrics: tuple[str, ...]
    grade: float

    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        stats = _stats(text)
        if not stats.words:
            return []
        grade = sum(READABILITY_METRICS[name](stats) for name in self.metrics)
        grade /= len(self.metrics)
        return [_alert(rule, grade)] if grade > self.grade else []


def compile_readability(definition: Mapping[str, Any]) -> ReadabilityMatcher:
    metrics = definition.get("metrics")
    names = [metrics] if isinstance(metrics, str) else metrics
    if not isinstance(names, list) or not names:
        raise UnsupportedRule("a readability rule needs a list of 'metrics'")
    unknown = [str(name) for name in names if name not in READABILITY_METRICS]
    if unknown:
        known = ", ".join(READABILITY_METRICS)
        raise UnsupportedRule(f"readability metric {unknown[0]!r} is not one of {known}")
    grade = definition.get("grade", 0)
    try:
        # Vale decodes weakly: "9" is 9.
        limit = float(grade) if not isinstance(grade, bool) else math.nan
    except (TypeError, ValueError):
        limit = math.nan
    if math.isnan(limit):
        raise FormulaError(f"'grade' must be a number, not {grade!r}")
    return ReadabilityMatcher(tuple(str(name) for name in names), limit)
