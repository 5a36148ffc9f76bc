"""The rule engine's share of a task: fixes and flags that cost no tokens.

Given Vale style packages, every rule the engine implements is applied by the engine and
left out of the model's instructions; the rules it cannot run are written into the
instructions for the model instead, never dropped. A substitution with a single replacement
that is safe in any context (``rules/fixes.py`` says exactly when) is a fix: its edit is
applied like a model edit and marked with source ``rules`` (with fixes off it becomes a
note). With ``proposals``, a substitution whose fix depends on what the sentence means (it
changes a word, a contraction, a case; ``rules/fixes.proposable_fix``) goes to the model as a
numbered proposal (``proposals.py``), applied only if the model accepts it, and noted as
before if not. Every other alert becomes a note. Text that Vale's comment controls switch off
(``<!-- vale off -->``) gives no alert, so it is neither noted nor edited.

When the task leaves nothing for the model (no guide and no rule the engine cannot run),
a block's result comes from the engine alone and no call is made.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from blockpass.blocks import RULES, Block, BlockResult, Document, Edit, Outcome, Verdict
from blockpass.proposals import RULE_SOURCE, Proposal
from blockpass.results import locate_edits
from blockpass.rules import Rule, RulePackage
from blockpass.rules.config import ValeConfig
from blockpass.rules.fixes import Fix, fixable_block, proposable_fix, protected_spans, safe_fix
from blockpass.rules.ignores import NO_IGNORES, Ignores
from blockpass.rules.linter import LintAlert, lint_document

# Part of the task's fingerprint: results made under an earlier policy for applying fixes
# are not reused.
_FIX_POLICY = "fixes safe in any context, vale comment controls"
_PROPOSALS = "other fixes proposed to the model"


@dataclass(frozen=True, slots=True, kw_only=True)
class Findings:
    edits: tuple[Edit, ...] = ()
    notes: tuple[str, ...] = ()
    # Fixes for the model to accept or reject (``proposals.py``).
    proposals: tuple[Proposal, ...] = ()

    @property
    def hits(self) -> int:
        """How many alerts the engine raised on the block."""
        return len(self.edits) + len(self.notes) + len(self.proposals)


NO_FINDINGS = Findings()


class RuleCheck:
    """The packages' rules over a run's documents. Without a config every rule runs on every
    document at every level; with one (a ``.vale.ini``), each document gets the rules, levels
    and ignores ``lint --config`` would give it, and the model is told the rules the engine
    cannot run that the config switches on for at least one of ``paths``."""

    def __init__(
        self,
        packages: Sequence[RulePackage],
        *,
        apply_fixes: bool = True,
        proposals: bool = False,
        config: ValeConfig | None = None,
        paths: Sequence[str] = (),
    ) -> None:
        self._rules = [rule for package in packages for rule in package.rules]
        self._config = config
        self._apply_fixes = apply_fixes
        self.proposals = proposals and apply_fixes
        chosen = self._rules
        if config is not None:
            ids = {rule.id for path in paths for rule in config.rules_for(path, self._rules)}
            chosen = [rule for rule in self._rules if rule.id in ids]
        self.covered = tuple(rule for rule in chosen if rule.implemented)
        self.uncovered = tuple(rule for rule in chosen if not rule.implemented)

    def digest(self) -> str:
        """What the engine's part of the task is, for the task fingerprint."""
        # What is not there is left out, not written as empty: run directories made before
        # configs and dictionaries counted keep their fingerprint.
        definitions = [
            (rule.id, rule.implemented, rule.definition, *([rule.sources] if rule.sources else []))
            for rule in self._rules
        ]
        settings = [] if self._config is None else [self._config.settings()]
        proposing = [_PROPOSALS] if self.proposals else []
        payload = json.dumps(
            [_FIX_POLICY, *proposing, self._apply_fixes, definitions, *settings],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:32]

    def _rules_for(self, document: Document) -> tuple[list[Rule], Ignores]:
        if self._config is None:
            return list(self.covered), NO_IGNORES
        rules = self._config.rules_for(document.id, self.covered)
        return rules, self._config.ignores_for(document.id)

    def alerts(
        self, documents: Sequence[Document], wanted: Collection[str]
    ) -> dict[str, list[LintAlert]]:
        """The wanted blocks' alerts, linted in their documents as Vale would (scopes,
        sentences, no alerts inside code); a block without one has no key."""
        by_block: dict[str, list[LintAlert]] = defaultdict(list)
        for document in documents:
            if any(block.id in wanted for block in document.blocks):
                for alert in lint_document(document, *self._rules_for(document)):
                    if alert.block_id in wanted:
                        by_block[alert.block_id].append(alert)
        return dict(by_block)

    def findings(
        self, documents: Sequence[Document], wanted: Collection[str]
    ) -> dict[str, Findings]:
        """The engine's findings for the wanted blocks, fixes where they are safe."""
        by_block = self.alerts(documents, wanted)
        fixable = {
            block.id: fixable_block(block, document.raw)
            for document in documents
            if any(block.id in by_block for block in document.blocks)
            for block in document.blocks
        }
        blocks = {block.id: block for document in documents for block in document.blocks}
        return {
            block_id: self._findings(blocks[block_id], alerts, fixable[block_id])
            for block_id, alerts in by_block.items()
        }

    def _findings(self, block: Block, alerts: list[LintAlert], fixable: bool) -> Findings:
        fixing = fixable and self._apply_fixes
        protected = protected_spans(block.text) if fixing else []
        fixes: dict[int, tuple[Edit, LintAlert]] = {}
        notes: list[str] = []
        proposals: list[Proposal] = []
        for alert in alerts:
            edit = _fix(block, alert, protected, safe_fix) if fixing else None
            proposed = (
                _fix(block, alert, protected, proposable_fix)
                if fixing and self.proposals and edit is None
                else None
            )
            if edit is not None:
                fixes[id(edit)] = (edit, alert)
            elif proposed is not None:
                proposals.append(Proposal(edit=proposed, note=_note(alert)))
            else:
                notes.append(_note(alert))
        accepted, rejected = locate_edits(block.text, [edit for edit, _ in fixes.values()])
        # A fix that overlaps an earlier one is still a finding.
        notes.extend(_note(fixes[id(edit)][1]) for edit in rejected)
        return Findings(
            edits=tuple(edit for edit, _ in accepted),
            notes=tuple(notes),
            proposals=tuple(proposals),
        )

    def messages(self) -> tuple[tuple[str, str], ...]:
        """Every rule's id and message: a compact answer's note on a rule reads as the
        engine's own note on it would (``verdicts.RuleCodes``)."""
        return tuple((rule.id, rule.message) for rule in self._rules)

    def instructions_for_model(self) -> str:
        """The rules the engine cannot run, as the model should read them."""
        return "\n".join(_describe(rule) for rule in self.uncovered)


def merge(result: BlockResult, findings: Findings, block: Block) -> BlockResult:
    """A model result with the engine's fixes and notes; an engine fix wins any overlap, and
    the proposals the model accepted (edits of source ``rules`` in its result) come next.
    A proposal not applied (not accepted, or no longer applying) leaves the engine's note."""
    if findings == NO_FINDINGS or result.outcome is not Outcome.RESULT:
        return result
    proposed = {proposal.edit for proposal in findings.proposals}
    accepted_proposals = [edit for edit in result.edits if edit in proposed]
    own = [edit for edit in result.edits if edit not in proposed]
    accepted, rejected = locate_edits(block.text, [*findings.edits, *accepted_proposals, *own])
    edits = tuple(edit for edit, _ in accepted)
    notes = (
        findings.notes
        + tuple(proposal.note for proposal in findings.proposals if proposal.edit not in edits)
        + result.notes
    )
    return replace(
        result,
        verdict=_verdict(edits, notes),
        edits=edits,
        notes=notes,
        rejected_edits=result.rejected_edits + tuple(rejected),
    )


def engine_result(block: Block, findings: Findings) -> BlockResult:
    """The engine's result where no model is asked: its proposals stay notes."""
    notes = findings.notes + tuple(proposal.note for proposal in findings.proposals)
    return BlockResult(
        block_id=block.id,
        content_hash=block.content_hash,
        outcome=Outcome.RESULT,
        verdict=_verdict(findings.edits, notes),
        edits=findings.edits,
        notes=notes,
        reason=RULES,
    )


def _note(alert: LintAlert) -> str:
    return f"{alert.rule_id}: {alert.message}"


def _fix(
    block: Block,
    alert: LintAlert,
    protected: list[tuple[int, int]],
    fixing: Callable[[str, int, int, str, list[tuple[int, int]]], Fix | None],
) -> Edit | None:
    """The edit ``fixing`` allows for the alert's first replacement; a safe fix needs the
    rule to have only one, a proposal offers the first (the model may edit otherwise)."""
    start = _offset_in(block, alert)
    single = len(alert.replacements) == 1 or fixing is proposable_fix
    if not alert.replacements or not single or start is None:
        return None
    fix = fixing(block.text, start, start + len(alert.match), alert.replacements[0], protected)
    if fix is None:
        return None
    find, replace_with = _unique_context(block.text, fix.start, fix.end, fix.replacement)
    return Edit(find=find, replace=replace_with, rule=alert.rule_id, source=RULE_SOURCE)


def _offset_in(block: Block, alert: LintAlert) -> int | None:
    """Where an alert's match starts in the block's text, from its line and column."""
    if block.span is None:
        return None
    lines = block.text.split("\n")
    row = alert.line - block.span.line
    if not 0 <= row < len(lines):
        return None
    column = alert.column - (block.span.column if row == 0 else 1)
    start = sum(len(line) + 1 for line in lines[:row]) + column
    return start if block.text[start : start + len(alert.match)] == alert.match else None


def _unique_context(text: str, start: int, end: int, replacement: str) -> tuple[str, str]:
    """The smallest span around text[start:end] that occurs once in ``text``, and its
    replacement: edits locate ``find`` by its first occurrence, so an engine fix widens its
    ``find`` until that occurrence is the one the rule flagged."""
    left, right = start, end
    while text.find(text[left:right]) != left and (left > 0 or right < len(text)):
        left, right = max(0, left - 1), min(len(text), right + 1)
    return text[left:right], text[left:start] + replacement + text[end:right]


def _verdict(edits: tuple[Edit, ...], notes: tuple[str, ...]) -> Verdict:
    return Verdict.EDIT if edits else Verdict.FLAG if notes else Verdict.OK


def _describe(rule: Rule) -> str:
    details = {key: value for key, value in rule.definition.items() if key not in ("link",)}
    return f"- {rule.id} ({rule.extends}): {rule.message}\n  {json.dumps(details, default=str)}"
