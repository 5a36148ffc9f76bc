"""The rule engine's share of a task: fixes and flags that cost no tokens.

Given Vale style packages, every rule the engine implements is applied by the engine and
left out of the model's instructions; the rules it cannot run are written into the
instructions for the model instead, never dropped. A substitution with a single replacement
is a fix: its edit is applied like a model edit and marked with source ``rules``
(configurable: with fixes off it becomes a note). Every other alert becomes a note.

When the task leaves nothing for the model (no guide and no rule the engine cannot run),
a block's result comes from the engine alone and no call is made.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from blockpass.blocks import RULES, Block, BlockResult, Edit, Outcome, Verdict
from blockpass.results import locate_edits
from blockpass.rules import Rule, RulePackage, check_text

RULE_SOURCE = "rules"


@dataclass(frozen=True, slots=True, kw_only=True)
class Findings:
    edits: tuple[Edit, ...] = ()
    notes: tuple[str, ...] = ()


NO_FINDINGS = Findings()


class RuleCheck:
    def __init__(self, packages: Sequence[RulePackage], *, apply_fixes: bool = True) -> None:
        rules = [rule for package in packages for rule in package.rules]
        self.covered = tuple(rule for rule in rules if rule.implemented)
        self.uncovered = tuple(rule for rule in rules if not rule.implemented)
        self._apply_fixes = apply_fixes
        self._heading_rules = tuple(rule for rule in self.covered if _heading_scoped(rule))
        self._body_rules = tuple(rule for rule in self.covered if not _heading_scoped(rule))

    def digest(self) -> str:
        """What the engine's part of the task is, for the task fingerprint."""
        definitions = [
            (rule.id, rule.implemented, rule.definition) for rule in self.covered + self.uncovered
        ]
        payload = json.dumps([self._apply_fixes, definitions], sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def findings(self, block: Block) -> Findings:
        rules = self._heading_rules if block.kind == "heading" else self._body_rules
        edits: list[Edit] = []
        notes: list[str] = []
        for alert in check_text(block.text, rules):
            if self._apply_fixes and len(alert.replacements) == 1:
                edits.append(
                    Edit(
                        find=alert.match,
                        replace=alert.replacements[0],
                        rule=alert.rule_id,
                        source=RULE_SOURCE,
                    )
                )
            else:
                notes.append(f"{alert.rule_id}: {alert.message}")
        accepted, _ = locate_edits(block.text, edits)
        return Findings(edits=tuple(edit for edit, _ in accepted), notes=tuple(notes))

    def instructions_for_model(self) -> str:
        """The rules the engine cannot run, as the model should read them."""
        return "\n".join(_describe(rule) for rule in self.uncovered)


def merge(result: BlockResult, findings: Findings, block: Block) -> BlockResult:
    """A model result with the engine's fixes and notes; an engine fix wins any overlap."""
    if findings == NO_FINDINGS or result.outcome is not Outcome.RESULT:
        return result
    accepted, rejected = locate_edits(block.text, [*findings.edits, *result.edits])
    edits = tuple(edit for edit, _ in accepted)
    notes = findings.notes + result.notes
    return replace(
        result,
        verdict=_verdict(edits, notes),
        edits=edits,
        notes=notes,
        rejected_edits=result.rejected_edits + tuple(rejected),
    )


def engine_result(block: Block, findings: Findings) -> BlockResult:
    return BlockResult(
        block_id=block.id,
        content_hash=block.content_hash,
        outcome=Outcome.RESULT,
        verdict=_verdict(findings.edits, findings.notes),
        edits=findings.edits,
        notes=findings.notes,
        reason=RULES,
    )


def _verdict(edits: tuple[Edit, ...], notes: tuple[str, ...]) -> Verdict:
    return Verdict.EDIT if edits else Verdict.FLAG if notes else Verdict.OK


def _heading_scoped(rule: Rule) -> bool:
    return all(scope.startswith("heading") for scope in rule.scope)


def _describe(rule: Rule) -> str:
    details = {key: value for key, value in rule.definition.items() if key not in ("link",)}
    return f"- {rule.id} ({rule.extends}): {rule.message}\n  {json.dumps(details, default=str)}"
