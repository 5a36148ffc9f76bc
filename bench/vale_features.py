"""Vale's Cucumber feature files, read once for the tests and the benchmarks.

Vale's acceptance suite (``vale-testdata/features/*.feature``) and each style package's
``features/rules.feature`` are Gherkin: ``Scenario:`` (and ``Background:``) blocks of
``Given``/``When``/``Then``/``And`` steps, a step followed by a doc string where it carries
text (a file to write, the exact output expected). As in Cucumber, a doc string runs between
two ``\"\"\"`` lines and loses the indentation of its opening quotes, and ``#`` lines outside
doc strings are comments, so commented-out scenarios are not read, while a ``#`` line inside
one (a Python comment in a file the suite writes) is kept.

``conformance`` scores a package's own scenarios against blockpass's linter
(``tests/rules/test_conformance.py`` pins its figures, ``bench/vale_suite.py`` prints them).
Benchmarks import this module as ``vale_features`` (their folder is on the import path);
tests as ``bench.vale_features`` (pytest puts the repository root there).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from blockpass.documents import read_document
from blockpass.lint import lint_documents, read_vale_ini
from blockpass.rules import load_vale_package

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STYLES = DATA / "styles"
VALE_SUITE = DATA / "vale-testdata"

_STEP = re.compile(r"(Given|When|Then|And|But) (.*)")
_BLOCK = re.compile(r"(Scenario|Background): ?(.*)")
_FILE = re.compile(r'an? (?:empty )?file named "(.+)" with:')
_EXPECTED = re.compile(r"the output should contain( exactly)?:")


@dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    keyword: str
    text: str
    doc: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    feature: Path
    name: str
    background: tuple[Step, ...]
    steps: tuple[Step, ...]

    @property
    def docs(self) -> list[str]:
        """The doc strings of the scenario's own steps, in order."""
        return [step.doc for step in self.steps if step.doc is not None]

    def files(self) -> dict[str, str]:
        """The files its ``Given a file named "..." with:`` steps write, background first."""
        found: dict[str, str] = {}
        for step in (*self.background, *self.steps):
            if (named := _FILE.fullmatch(step.text)) and step.doc is not None:
                found[named.group(1)] = step.doc
        return found

    def expected(self) -> tuple[list[str], bool] | None:
        """The output lines it expects (blank lines dropped) and whether exactly those
        (``should contain exactly:``) or at least those (``should contain:``)."""
        for step in self.steps:
            if (then := _EXPECTED.fullmatch(step.text)) and step.doc is not None:
                return [line for line in step.doc.splitlines() if line.strip()], bool(then[1])
        return None


def read_feature(path: Path) -> list[Scenario]:
    """Every scenario of a feature file, in order, each with the file's background."""
    background: list[Step] = []
    scenarios: list[tuple[str, list[Step]]] = []
    current: list[Step] | None = None
    doc: list[str] | None = None
    indent = 0
    for raw in path.read_text("utf-8").splitlines():
        line = raw.strip()
        if doc is not None:
            if line == '"""':
                assert current is not None, f"{path}: a doc string outside any scenario"
                current[-1] = replace(current[-1], doc="\n".join(doc))
                doc = None
            else:
                doc.append(raw[indent:] if raw[:indent].isspace() else raw.lstrip())
            continue
        if not line or line.startswith("#"):
            continue
        if block := _BLOCK.match(line):
            current = background if block[1] == "Background" else []
            if block[1] == "Scenario":
                scenarios.append((block[2], current))
        elif line == '"""':
            doc, indent = [], len(raw) - len(raw.lstrip())
        elif (step := _STEP.fullmatch(line)) and current is not None:
            current.append(Step(keyword=step[1], text=step[2]))
    return [
        Scenario(feature=path, name=name, background=tuple(background), steps=tuple(steps))
        for name, steps in scenarios
    ]


def scenario(path: Path, name: str) -> Scenario:
    """The scenario of that name; it must exist, so that a renamed one fails here rather
    than passing on nothing."""
    found = [s for s in read_feature(path) if s.name == name]
    assert found, f"no scenario {name!r} in {path}"
    return found[0]


def expected_outputs(path: Path, step: str) -> dict[str, set[str]]:
    """What ``step`` (a pattern with one group, matched against a scenario's steps) names →
    the output lines that scenario expects."""
    found: dict[str, set[str]] = {}
    for each in read_feature(path):
        named = [m[1] for s in each.steps if (m := re.fullmatch(step, s.text))]
        if named and (expected := each.expected()) is not None:
            found[named[0]] = set(expected[0])
    return found


def package_scenarios(style: str) -> dict[str, set[str]]:
    """A package's fixture folder → the lines Vale prints for it."""
    return expected_outputs(STYLES / style / "features" / "rules.feature", r'I test "(.+)"')


@dataclass
class Figures:
    expected: Counter[str]
    exact: Counter[str]
    extra: Counter[str]
    missing: set[str]
    extras: set[str]


def conformance(style: str) -> Figures:
    """Each scenario of the package's ``rules.feature`` linted as Vale lints it
    (``fixtures/<Name>/test.md`` under that folder's ``.vale.ini``), counted by extension
    point. Expected alerts count only for rules whose extension point the engine implements;
    a rule the package lacks is Vale's to report, so it counts."""
    package = load_vale_package(STYLES / style / style)
    point = {rule.id: rule.extends for rule in package.rules}
    implemented = {rule.id for rule in package.implemented}
    expected: set[str] = set()
    produced: set[str] = set()
    for name, lines in package_scenarios(style).items():
        folder = STYLES / style / "fixtures" / name
        config = read_vale_ini(folder / ".vale.ini")
        document = read_document(folder / "test.md", document_id="test.md")
        # The package is loaded once; `test_lint` checks that the config finds it itself.
        alerts = lint_documents([document], package, config=config)
        keep = {line for line in lines if line.split(":")[3] not in point.keys() - implemented}
        expected |= {f"{name}|{line}" for line in keep}
        produced |= {f"{name}|{a.path}:{a.line}:{a.column}:{a.rule_id}:{a.message}" for a in alerts}

    def by_point(lines: set[str]) -> Counter[str]:
        return Counter(point.get(line.split(":")[3], "?") for line in lines)

    return Figures(
        expected=by_point(expected),
        exact=by_point(expected & produced),
        extra=by_point(produced - expected),
        missing=expected - produced,
        extras=produced - expected,
    )


def conformance_report(style: str, figures: Figures) -> str:
    total, exact = sum(figures.expected.values()), sum(figures.exact.values())
    lines = [
        f"{style}: {exact}/{total} expected alerts reproduced exactly "
        f"({exact / total:.1%}), {sum(figures.extra.values())} extra"
    ]
    for name in sorted(figures.expected | figures.extra):
        lines.append(
            f"  {name:<15} expected {figures.expected[name]:>3}  "
            f"exact {figures.exact[name]:>3}  extra {figures.extra[name]:>3}"
        )
    return "\n".join(lines)
