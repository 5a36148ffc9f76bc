"""Linting one document the way Vale does: scoped texts in reading order, each read by the
rules whose scope matches it, alerts placed at their line and column in the source.

Order follows Vale's: block by block, and within a block its sentences (for rules that ask
for them) before the block itself. The order matters to conditional rules, which remember
what earlier texts defined (``LintState``).

Positions are 1-based, the column counted in characters (Vale counts runes: an em dash is
one column). Metric and readability alerts speak of the whole document: they sit at line 1,
column 1 as in Vale, and belong to the document's first prose block (where ``run`` notes
them). Messages have line breaks and runs of spaces collapsed, as Vale's
``core.FormatAlert`` does (a match of ``y.  T`` is reported as ``'y. T'``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from blockpass.blocks import BlockKind, Document
from blockpass.rules.alerts import LintState
from blockpass.rules.comments import CommentControls
from blockpass.rules.engine import run_rule
from blockpass.rules.ignores import NO_IGNORES, Ignores
from blockpass.rules.literals import PreparedText
from blockpass.rules.markup import DocumentText, read_texts
from blockpass.rules.metrics import DOCUMENT_LEVEL
from blockpass.rules.scopes import Scope, ScopedText, parse_scope
from blockpass.rules.sentences import split_sentences
from blockpass.rules.vale import Rule

__all__ = ["LintAlert", "lint_document"]

_SPACES = re.compile(" +")
_WHOLE = frozenset({"raw", "summary"})
# Vale cuts paragraphs only from prose paragraphs, not from headings, items or cells.
_NOT_PARAGRAPHS = frozenset({"heading", "list", "blockquote", "table", "attr"})
# What Vale's summary leaves out; the first text without these is the first prose block.
_NOT_SUMMARY = frozenset({"heading", "table", "attr"})
# The blocks metric formulas count by kind (besides headings, counted by level).
_COUNTED = ("list", "blockquote")


@dataclass(frozen=True, slots=True, kw_only=True)
class LintAlert:
    """One alert in a document. ``path`` is what output shows (the document id, a path as
    given); ``block_id`` names the block it falls in, when it falls in one."""

    document_id: str
    path: str
    line: int
    column: int
    rule_id: str
    level: str
    message: str
    match: str
    replacements: tuple[str, ...] = ()
    link: str = ""
    block_id: str = ""


def vale_message(message: str) -> str:
    return _SPACES.sub(" ", message.replace("\n", " "))


class _DocumentLint:
    def __init__(self, document: Document, rules: Sequence[Rule], ignores: Ignores) -> None:
        self.document = document
        self.ignores = ignores
        self.scoped: list[tuple[Rule, Scope]] = [
            (rule, parse_scope(rule.scope))
            for rule in rules
            if rule.implemented and rule.matcher is not None
        ]
        self.names = frozenset().union(*(scope.names for _, scope in self.scoped))
        self.state = LintState()
        self.controls = CommentControls()
        self.alerts: dict[tuple[str, int, int, str], LintAlert] = {}
        self.lead_block = ""
        self._readers: dict[tuple[frozenset[str], str], list[Rule]] = {}

    def readers(self, text: ScopedText) -> list[Rule]:
        key = (text.sections, text.fragment)
        found = self._readers.get(key)
        if found is None:
            found = [r for r, scope in self.scoped if scope.matches(text.sections, text.fragment)]
            self._readers[key] = found
        return found

    def run(self, text: ScopedText, source: DocumentText, *, governed: bool = True) -> None:
        """``governed``: the document's comment controls apply where each alert falls."""
        rules = self.readers(text)
        if not rules:
            return
        prepared = PreparedText.of(text.text)
        for rule in rules:
            for alert in run_rule(rule, text.text, prepared, self.state):
                offset = text.source_offset(alert.start)
                silenced = governed and self.controls.silences(
                    rule.id, rule.style, offset, alert.match
                )
                if silenced:
                    continue
                whole = rule.extends in DOCUMENT_LEVEL
                line, column = (1, 1) if whole else source.position(offset)
                message = vale_message(alert.message)
                key = (rule.id, line, column, message)
                if key in self.alerts:
                    continue
                self.alerts[key] = LintAlert(
                    document_id=self.document.id,
                    path=self.document.id,
                    line=line,
                    column=column,
                    rule_id=rule.id,
                    level=rule.level,
                    message=message,
                    match=alert.match,
                    replacements=alert.replacements,
                    link=rule.link,
                    block_id=self.lead_block if whole else text.block_id,
                )

    def read(self, text: ScopedText, source: DocumentText) -> None:
        if text.sections & _WHOLE:
            # Vale reads raw and summary as they are, after resetting every switch but off.
            if not self.controls.off_at_end():
                self.run(text, source, governed=False)
            return
        if "sentence" in self.names:
            for start, end in split_sentences(text.text):
                self.run(text.cut(start, end, "sentence"), source)
        if "paragraph" in self.names and not text.sections & _NOT_PARAGRAPHS:
            self.run(text.cut(0, len(text.text), "paragraph"), source)
        self.run(text, source)

    def count_blocks(self, texts: Sequence[ScopedText]) -> None:
        """Vale's ``File.Metrics``, and the block document-level alerts belong to."""
        counts = self.state.counts
        counts["pre"] = sum(b.kind == BlockKind.CODE for b in self.document.blocks)
        for text in texts:
            if text.sections & _WHOLE:
                continue
            if not self.lead_block and not text.sections & _NOT_SUMMARY:
                self.lead_block = text.block_id
            if "heading" in text.sections:
                level = next((s for s in text.sections if s[:1] == "h" and s[1:].isdigit()), "")
                counts[f"heading_{level}"] = counts.get(f"heading_{level}", 0) + 1
            for kind in _COUNTED:
                if kind in text.sections:
                    counts[kind] = counts.get(kind, 0) + 1

    def lint(self) -> list[LintAlert]:
        if not self.scoped:
            return []
        if any(block.span is None for block in self.document.blocks):
            # No positions in a source file (JSONL): each block is its own source.
            for block in self.document.blocks:
                if block.text.strip():
                    offsets = range(len(block.text) + 1)
                    text = ScopedText(frozenset({"text"}), block.text, offsets, block_id=block.id)
                    self.read(text, DocumentText(block.text))
            return list(self.alerts.values())
        source, texts = read_texts(self.document, sized=self.names & _WHOLE, ignores=self.ignores)
        self.controls = CommentControls.read(source.comments)
        self.count_blocks(texts)
        for text in texts:
            self.read(text, source)
        return sorted(self.alerts.values(), key=lambda a: (a.line, a.column, a.rule_id))


def lint_document(
    document: Document, rules: Sequence[Rule], ignores: Ignores = NO_IGNORES
) -> list[LintAlert]:
    """The alerts of ``rules`` (already chosen for this document) in ``document``, reading
    nothing that ``ignores`` (the config's, for this document) excludes."""
    return _DocumentLint(document, rules, ignores).lint()
