"""A block's answer against its ground truth, and the harness's metrics with their intervals.

A finding is a (block, rule) pair: a rule named by an accepted edit, or by a note (the text
before its first ``:``, as the sandbox and the local model's reference notes write it); an
``unsure:`` note is not a finding. A finding's rule is read as a rule of the suite when it is
that rule's id or the part after the package's dot, in any case. A finding of a rule in the
block's scope is a true or a false positive; one of a package rule outside the scope is left
out (nobody labelled it); one that names no rule of the package at all is a false positive.

Intervals are percentile bootstraps over blocks (the unit that was sampled), drawn with a
seed so a report is reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from blockpass.blocks import BlockResult, Edit, Outcome
from blockpass.evaluation.labelled import LabelledBlock
from blockpass.results import apply_edits

__all__ = [
    "METRICS",
    "BlockScore",
    "Estimate",
    "estimate",
    "finding_rules",
    "score_block",
]

UNSURE = "unsure:"


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockScore:
    """One labelled block's answer, scored, and where it sat when it was answered."""

    case_id: str
    source: str
    answered: bool
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    # None where the case has no exact fix (no injected violation) or no answer came.
    exact_fix: bool | None = None
    # None on a block that expects findings; on a clean one, whether an edit was accepted.
    false_edit: bool | None = None
    rejected_edits: int = 0
    # Calls whose answer did not give this block a usable result (missing, unknown,
    # duplicated or invalid id, or an answer that did not parse) before it got one.
    id_failures: int = 0
    pack_size: int = 0
    position: int = 0
    # US$: each paid call that carried the block, its price shared among its blocks.
    cost: float = 0.0


def finding_rules(result: BlockResult) -> set[str]:
    notes = (note.split(":", 1)[0] for note in result.notes if not note.startswith(UNSURE))
    return {name.strip() for name in (*notes, *(edit.rule for edit in result.edits))}


def _resolver(rule_ids: Iterable[str]) -> Callable[[str], str | None]:
    names: dict[str, str] = {}
    for rule_id in rule_ids:
        names[rule_id.lower()] = rule_id
        names.setdefault(rule_id.rpartition(".")[2].lower(), rule_id)
    return lambda name: names.get(name.strip().lower())


def score_block(
    case: LabelledBlock,
    result: BlockResult | None,
    rule_ids: Iterable[str],
    *,
    pack_size: int = 0,
    position: int = 0,
    id_failures: int = 0,
    cost: float = 0.0,
) -> BlockScore:
    """``result`` is None or a failure when the block never got an answer: its expected
    findings are then all missed, and it counts as unanswered."""
    if result is None or result.outcome is not Outcome.RESULT:
        return BlockScore(
            case_id=case.id,
            source=case.source,
            answered=False,
            false_negatives=len(case.expected),
            pack_size=pack_size,
            position=position,
            id_failures=id_failures,
            cost=cost,
        )
    resolve = _resolver(rule_ids)
    claimed: set[str] = set()
    unnamed = 0
    for name in finding_rules(result):
        rule = resolve(name)
        if rule is None:
            unnamed += 1
        elif rule in case.scope:
            claimed.add(rule)
    judged = [edit for edit in result.edits if _judged(edit, case, resolve)]
    return BlockScore(
        case_id=case.id,
        source=case.source,
        answered=True,
        true_positives=len(claimed & case.expected),
        false_positives=len(claimed - case.expected) + unnamed,
        false_negatives=len(case.expected - claimed),
        exact_fix=(
            apply_edits(case.text, tuple(judged)) == case.fixed
            if case.fixed is not None and not case.clean
            else None
        ),
        false_edit=bool(judged) if case.clean else None,
        rejected_edits=len(result.rejected_edits),
        pack_size=pack_size,
        position=position,
        id_failures=id_failures,
        cost=cost,
    )


def _judged(edit: Edit, case: LabelledBlock, resolve: Callable[[str], str | None]) -> bool:
    """An edit the block's ground truth can judge: one of a rule in scope, or of no rule."""
    rule = resolve(edit.rule)
    return rule is None or rule in case.scope


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None
    n: int

    def to_json(self) -> dict[str, float | int | None]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}

    def text(self) -> str:
        if self.value is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom else None


def _precision(scores: Sequence[BlockScore]) -> float | None:
    found = sum(s.true_positives for s in scores)
    return _ratio(found, found + sum(s.false_positives for s in scores))


def _recall(scores: Sequence[BlockScore]) -> float | None:
    found = sum(s.true_positives for s in scores)
    return _ratio(found, found + sum(s.false_negatives for s in scores))


def _f1(scores: Sequence[BlockScore]) -> float | None:
    found = sum(s.true_positives for s in scores)
    wrong = sum(s.false_positives + s.false_negatives for s in scores)
    return _ratio(2 * found, 2 * found + wrong)


def _share(
    flag: Callable[[BlockScore], bool | None],
) -> Callable[[Sequence[BlockScore]], float | None]:
    def share(scores: Sequence[BlockScore]) -> float | None:
        judged = [value for value in map(flag, scores) if value is not None]
        return _ratio(sum(judged), len(judged))

    return share


def _per_block(
    count: Callable[[BlockScore], int],
) -> Callable[[Sequence[BlockScore]], float | None]:
    return lambda scores: _ratio(sum(map(count, scores)), len(scores))


# Each metric: scores → a value (None where nothing is there to judge).
METRICS: dict[str, Callable[[Sequence[BlockScore]], float | None]] = {
    "precision": _precision,
    "recall": _recall,
    "f1": _f1,
    "exact_fix_rate": _share(lambda s: s.exact_fix),
    "false_edit_rate": _share(lambda s: s.false_edit),
    "unanswered_rate": _share(lambda s: not s.answered),
    "id_failures_per_block": _per_block(lambda s: s.id_failures),
    "rejected_edits_per_block": _per_block(lambda s: s.rejected_edits),
}


def estimate(
    metric: str, scores: Sequence[BlockScore], *, seed: int, resamples: int = 400
) -> Estimate:
    """The metric on ``scores`` and its 95% percentile bootstrap interval."""
    measure = METRICS[metric]
    value = measure(scores)
    if value is None or len(scores) < 2:
        return Estimate(value=value, low=None, high=None, n=len(scores))
    draw = random.Random(seed)
    values = sorted(
        v
        for _ in range(resamples)
        if (v := measure(draw.choices(scores, k=len(scores)))) is not None
    )
    return Estimate(
        value=value,
        low=values[int(0.025 * (len(values) - 1))],
        high=values[int(0.975 * (len(values) - 1))],
        n=len(scores),
    )
