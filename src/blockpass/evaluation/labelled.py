"""Labelled blocks for the quality harness: texts whose right answers someone else wrote down.

Three sources, none written by this project:

- ``fixture``: a Vale package's ``fixtures/<Name>/test.md`` cut into blocks, each expecting
  the rules ``features/rules.feature`` lists for its lines (``test.md:line:col:Rule:msg``).
  Only the rules that fixture's ``.vale.ini`` turns on (or names in its expected lines) are
  judged on it: the feature file says nothing about the others.
- ``invalid`` / ``valid``: RedHat's ``testinvalid.adoc`` (every non-empty line must raise
  the folder's rule) and ``testvalid.adoc`` (no line may), one block a line, judged on that
  rule only.
- ``injected`` / ``clean``: paragraphs of a real corpus on which the package's substitution
  rules find nothing; an ``injected`` one has one substitution reversed (the rule's pattern
  put where its replacement stood), so it expects that rule and, as its exact fix, the
  paragraph as it was; a ``clean`` one expects nothing, and an edit on it is a false edit.
  Both are judged on the package's substitution rules only (its other rules, passive voice,
  first person and the like, fire on most real prose, and nobody labelled those), and the
  rule engine confirms each ground truth.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from blockpass.blocks import Block, BlockKind
from blockpass.documents import read_document
from blockpass.errors import UserInputError
from blockpass.rag.units import vale_units
from blockpass.rules import Rule, RulePackage, check_text, load_vale_package

__all__ = ["LabelledBlock", "Suite", "injected_cases", "load_suite", "suite_guide"]

# Blocks a copy editor judges; the pre-filter passes over code and markup anyway.
_PROSE = frozenset(
    {BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.HEADING, BlockKind.BLOCKQUOTE}
)
_ALERT_LINE = re.compile(r"\s*test\.md:(\d+):\d+:([\w.-]+):")
_TESTED = re.compile(r'When I test "([^"]+)"')
_ENABLED = re.compile(r"^\s*([\w-]+\.[\w-]+)\s*=\s*YES\s*$", re.MULTILINE | re.IGNORECASE)
_BASED_ON = re.compile(r"^\s*BasedOnStyles\s*=\s*(.+)$", re.MULTILINE)
# A swap side blockpass can write into a text as is: words, spaces, hyphens, apostrophes.
_LITERAL = re.compile(r"[A-Za-z][A-Za-z '-]*[A-Za-z]")


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledBlock:
    """One block and its ground truth: the rules it must raise (``expected``) among the rules
    it is judged on (``scope``), and for an injected violation the text once fixed."""

    id: str
    source: str
    kind: BlockKind
    text: str
    expected: frozenset[str]
    scope: frozenset[str]
    fixed: str | None = None

    @property
    def clean(self) -> bool:
        return not self.expected


@dataclass(frozen=True, slots=True, kw_only=True)
class Suite:
    """A style package's labelled blocks, with the folder of its rules (what the sandbox
    applies) and every rule id it has."""

    name: str
    rules_dir: Path
    rule_ids: frozenset[str]
    cases: tuple[LabelledBlock, ...]


def load_suite(
    package_dir: Path, *, corpus: Sequence[Path] = (), injected: int = 0, seed: int = 0
) -> Suite:
    """A package folder as the shared data holds it (``styles/Google``: the rules in
    ``Google/``, ``fixtures/``, ``features/``): its fixture cases, and ``injected`` cases
    (with as many clean ones) made from the paragraphs of ``corpus``."""
    rules_dir = package_dir / package_dir.name
    if not rules_dir.is_dir():
        raise UserInputError(f"{package_dir}: no rule folder {package_dir.name}/ in it")
    package = load_vale_package(rules_dir)
    feature = package_dir / "features" / "rules.feature"
    if feature.is_file():
        cases = list(_fixture_cases(package, package_dir / "fixtures", feature))
    else:
        cases = list(_line_cases(package, package_dir / "fixtures"))
    if injected:
        cases += injected_cases(package, _corpus_paragraphs(corpus), count=injected, seed=seed)
    if not cases:
        raise UserInputError(f"{package_dir}: no labelled blocks (fixtures or --corpus)")
    return Suite(
        name=package.name,
        rules_dir=rules_dir,
        rule_ids=frozenset(rule.id for rule in package.rules),
        cases=tuple(cases),
    )


def suite_guide(suite: Suite) -> str:
    """The guide a model judges a suite's blocks by: one section per rule of the package,
    headed by the rule id (so a model that names a section names the rule)."""
    package = load_vale_package(suite.rules_dir)
    sections = [f"## {unit.title}\n\n{unit.text}\n" for unit in vale_units([package])]
    return f"# The {suite.name} style rules\n\n" + "\n".join(sections)


def _fixture_cases(package: RulePackage, fixtures: Path, feature: Path) -> Iterable[LabelledBlock]:
    all_rules = frozenset(rule.id for rule in package.rules)
    for scenario in feature.read_text("utf-8").split("Scenario:")[1:]:
        tested = _TESTED.search(scenario)
        fixture = fixtures / tested[1] / "test.md" if tested else None
        if fixture is None or not fixture.is_file():
            continue
        alerts = [(int(m[1]), m[2]) for m in map(_ALERT_LINE.match, scenario.splitlines()) if m]
        scope = _fixture_scope(fixture.parent / ".vale.ini", package.name, all_rules)
        scope |= {rule for _, rule in alerts}
        document = read_document(
            fixture, document_id=f"{package.name}/{tested[1] if tested else ''}"
        )
        raw = document.raw
        for block in document.blocks:
            if block.kind not in _PROSE or block.span is None:
                continue
            first = block.span.line
            last = first + raw[block.span.start : block.span.end].count(b"\n")
            yield LabelledBlock(
                id=f"{package.name}-{fixture.parent.name}-{block.index}",
                source="fixture",
                kind=block.kind,
                text=block.text,
                expected=frozenset(rule for line, rule in alerts if first <= line <= last),
                scope=frozenset(scope),
            )


def _fixture_scope(ini: Path, style: str, all_rules: frozenset[str]) -> set[str]:
    if not ini.is_file():
        return set(all_rules)
    text = ini.read_text("utf-8")
    based = _BASED_ON.search(text)
    if based and style in {name.strip() for name in based[1].split(",")}:
        return set(all_rules)
    return {rule for rule in _ENABLED.findall(text) if rule in all_rules}


def _line_cases(package: RulePackage, fixtures: Path) -> Iterable[LabelledBlock]:
    """RedHat's layout: a folder per rule with ``testinvalid.adoc`` and ``testvalid.adoc``."""
    for rule in package.rules:
        for name, expected in (("testinvalid", frozenset({rule.id})), ("testvalid", frozenset())):
            path = fixtures / rule.name / f"{name}.adoc"
            if not path.is_file():
                continue
            lines = path.read_text("utf-8").splitlines()
            for number, line in enumerate(lines, start=1):
                # AsciiDoc comments and blank lines are not test lines.
                if not line.strip() or line.startswith("//"):
                    continue
                yield LabelledBlock(
                    id=f"{package.name}-{rule.name}-{name}-{number}",
                    source=name.removeprefix("test"),
                    kind=BlockKind.PARAGRAPH,
                    text=line,
                    expected=expected,
                    scope=frozenset({rule.id}),
                )


def _corpus_paragraphs(paths: Sequence[Path]) -> list[Block]:
    paragraphs = []
    for path in paths:
        for block in read_document(path, document_id=path.name).blocks:
            plain = not any(mark in block.text for mark in ("`", "{", "<", "["))
            if block.kind is BlockKind.PARAGRAPH and plain and 80 <= len(block.text) <= 600:
                paragraphs.append(block)
    return paragraphs


def injected_cases(
    package: RulePackage, paragraphs: Sequence[Block], *, count: int, seed: int
) -> list[LabelledBlock]:
    """Up to ``count`` paragraphs with one substitution reversed, and up to ``count`` clean
    ones, drawn with ``seed``; of the package's substitution rules, the rule engine must find
    exactly the injected one in each injected text and none in a clean one."""
    rules = [
        rule
        for rule in package.rules
        if rule.extends == "substitution" and not _heading_scoped(rule)
    ]
    clean = [block for block in paragraphs if not check_text(block.text, rules)]
    chooser = random.Random(seed)
    chooser.shuffle(clean)
    swaps = [
        (rule, pattern, replacement.split("|")[0])
        for rule in rules
        for pattern, replacement in rule.swap
        if _LITERAL.fullmatch(pattern) and _LITERAL.fullmatch(replacement.split("|")[0])
    ]
    chooser.shuffle(swaps)
    scope = frozenset(rule.id for rule in rules)
    injected: list[LabelledBlock] = []
    used: set[str] = set()
    for rule, pattern, replacement in swaps:
        if len(injected) >= count:
            break
        for block in clean:
            where = re.search(rf"\b{re.escape(replacement)}\b", block.text)
            if block.id in used or where is None:
                continue
            text = block.text[: where.start()] + pattern + block.text[where.end() :]
            if {alert.rule_id for alert in check_text(text, rules)} != {rule.id}:
                continue
            used.add(block.id)
            injected.append(
                LabelledBlock(
                    id=f"{package.name}-injected-{len(injected)}",
                    source="injected",
                    kind=BlockKind.PARAGRAPH,
                    text=text,
                    expected=frozenset({rule.id}),
                    scope=scope,
                    fixed=block.text,
                )
            )
            break
    controls = [block for block in clean if block.id not in used][:count]
    return injected + [
        LabelledBlock(
            id=f"{package.name}-clean-{number}",
            source="clean",
            kind=BlockKind.PARAGRAPH,
            text=block.text,
            expected=frozenset(),
            scope=scope,
            fixed=block.text,
        )
        for number, block in enumerate(controls)
    ]


def _heading_scoped(rule: Rule) -> bool:
    return all(scope.startswith("heading") for scope in rule.scope)
