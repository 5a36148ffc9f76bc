"""What a rule reports, and the interface every compiled rule offers.

``format_message`` and ``to_sentence`` fill messages exactly as Vale's ``core`` package does,
so that alert texts compare equal to Vale's own output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from blockpass.rules.literals import PreparedText
    from blockpass.rules.vale import Rule

__all__ = ["Alert", "LintState", "Matcher", "format_message", "to_sentence"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    rule_id: str
    level: str
    message: str
    start: int
    end: int
    match: str
    replacements: tuple[str, ...] = ()


@dataclass(slots=True)
class LintState:
    """What rules remember from one scope to the next within a document: the terms that
    conditional rules saw defined and the spellings consistency rules saw used (Vale's
    ``File.Sequences``, shared by all of them), and the document's blocks counted by kind
    for metric formulas (Vale's ``File.Metrics``: ``heading_h1``, ``list``, ``pre``, ...)."""

    sequences: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


class Matcher(Protocol):
    def run(
        self,
        text: str,
        rule: Rule,
        prepared: PreparedText | None = None,
        state: LintState | None = None,
    ) -> list[Alert]:
        """Alerts for ``text``; ``prepared`` is ``PreparedText.of(text)``, shared by rules;
        ``state`` is the document's, for rules that look beyond one scope."""
        ...


def format_message(message: str, *subs: str) -> str:
    """Fill ``%s`` in order, as Vale's ``core.FormatMessage`` does (missing ones become "")."""
    parts: list[str] = []
    pos = used = 0
    while (pct := message.find("%", pos)) != -1:
        parts.append(message[pos:pct])
        spec = message[pct + 1 : pct + 2]
        if spec == "s":
            parts.append(subs[used] if used < len(subs) else "")
            used += 1
        else:
            parts.append("%" if spec == "%" else message[pct : pct + 2])
        pos = pct + 2
    parts.append(message[pos:])
    return "".join(parts)


def to_sentence(words: Sequence[str], conjunction: str) -> str:
    """Vale's ``core.ToSentence``: 'a' / 'a' or 'b' / 'a', 'b', or 'c'."""
    quoted = [f"'{w}'" for w in words]
    if len(quoted) <= 1:
        return "".join(quoted)
    if len(quoted) == 2:
        return f"{quoted[0]} {conjunction} {quoted[1]}"
    quoted[-1] = f"{conjunction} {quoted[-1]}"
    return ", ".join(quoted)
