"""Vale's own acceptance suite on Markdown, scored against `blockpass lint --format vale`.

    python bench/vale_suite.py [--diff]

Each scenario of ``vale-testdata/features/*.feature`` is mapped to the command Vale's step
definitions (``features/steps.rb``) run: a folder of ``fixtures/`` (for ``I run vale``, a
scratch folder holding the files the scenario writes), the paths named, and the config Vale
finds there (``--config``, else ``.vale``, ``_vale``, ``vale.ini``, ``.vale.ini`` or
``_vale.ini`` in that folder or above). A scenario that lints Markdown runs through
``lint_command`` with that config, and its expected alerts on Markdown files are compared
with ours (lines on other formats are counted apart, never scored). One line per scenario:
matched/expected, extra alerts, and the verdict, or why it was not run:

- ``not an alert check``: it expects an error message, or that some text is absent;
- ``non-Markdown``: it lints no Markdown file;
- ``fixture missing``: its fixture folder, file or config is not in the shared data;
- ``unsupported setting``: it needs a Vale feature `blockpass lint` lacks (``--glob``,
  ``--ext``, standard input, ``vale sync``, ...);
- ``styles missing``: a style, rule or vocabulary it needs is not in the shared data (the
  suite's ``styles`` folder is not: see tests/rules/test_vale_config.py, which runs several
  of these scenarios with rules copied from Vale's repository or rebuilt from the expected
  lines; nothing is rebuilt here).

A scenario that runs is in scope, and must match exactly, unless its config uses a setting
blockpass does not read (for the Markdown files linted) or it expects alerts from a rule the
engine does not run (an extension point or a built-in ``Vale`` rule not implemented): those
are run and shown, out of scope. Then the Google, Microsoft and write-good packages' own
scenarios, scored as tests/rules/test_conformance.py scores them. ``--diff`` prints the
missing (-) and extra (+) lines of every scenario run that differs. ``Vale.Spelling`` runs
on Debian's en_US, not Vale's own en_US-web: a word only one of them knows is a difference
(checks.feature "Spelling": 'Webhooks').
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from blockpass.errors import UserInputError
from blockpass.lint import lint_command, read_vale_ini
from blockpass.rules.config import Section
from blockpass.rules.vale import Rule
from vale_features import (
    VALE_SUITE,
    Scenario,
    conformance,
    conformance_report,
    read_feature,
)

CONFIG_NAMES = (".vale", "_vale", "vale.ini", ".vale.ini", "_vale.ini")
MARKDOWN = (".md", ".markdown")
PACKAGES = ("Google", "Microsoft", "write-good")
# What config.py reads; any other key in force for a linted Markdown file is unsupported.
READ_GLOBALS = frozenset({"StylesPath", "MinAlertLevel", "Vocab", "IgnoredScopes", "SkippedScopes"})
READ_IN_SECTIONS = frozenset({"BasedOnStyles", "TokenIgnores", "BlockIgnores", "IgnorePatterns"})
_GLOBAL = "\0global"
_ALERT = re.compile(r"[^:\s]+:\d+:\d+:[\w-]+\.[\w-]+:")
_OFF = frozenset({"no", "false"})
# The rules of Vale's built-in `Vale` style that run without a vocabulary. A config that names
# the style loads them (rules/builtin.py), so they are judged as any rule blockpass runs; one
# that is expected but was not loaded is a gap.
BUILT_IN = frozenset({"Vale.Spelling", "Vale.Repetition"})


@dataclass(frozen=True, slots=True)
class Suite:
    """A copy of Vale's ``testdata``: ``features``, ``fixtures`` and, if there, ``styles``."""

    root: Path

    @property
    def fixtures(self) -> Path:
        return self.root / "fixtures"

    @property
    def aruba(self) -> Path:
        # Aruba runs the steps in the suite's `tmp/aruba` folder: where `I run vale` writes
        # its files, and what the StylesPath in those files is relative to.
        return self.root / "tmp" / "aruba"

    def shown(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """``vale PATHS`` as a step runs it, in ``cwd`` (None: the scratch folder)."""

    cwd: Path | None
    paths: tuple[str, ...] = (".",)
    config: str | None = None
    min_level: str | None = None
    unsupported: str = ""  # the Vale feature `blockpass lint` lacks
    read_as: str = ""  # the format the input is read as (--ext, standard input)


def _named(found: re.Match[str], group: int = 1) -> tuple[str, ...]:
    return tuple(found[group].split())


# features/steps.rb, step by step: each builds the command from the step's match (m) and
# the suite's fixtures folder (f).
STEPS: list[tuple[str, Callable[[re.Match[str], Path], Invocation]]] = [
    (
        r'I test template "(.*)"',
        lambda m, f: Invocation(cwd=f / "templates", unsupported="--output=<template>"),
    ),
    (r'I use filter "(.*)"', lambda m, f: Invocation(cwd=f / "filters", unsupported="--filter")),
    (
        r'I fix "(.*)"',
        lambda m, f: Invocation(cwd=f / "actions", paths=_named(m), unsupported="vale fix"),
    ),
    (
        r'I lint simple "(.*)"',
        lambda m, f: Invocation(cwd=f / "formats", paths=_named(m), unsupported="--ignore-syntax"),
    ),
    (r"I lint path with exclusions", lambda m, f: Invocation(cwd=f / "folders")),
    (r'I lint path "(.*)"', lambda m, f: Invocation(cwd=f / "formats" / m[1])),
    (r'I lint Sphinx "(.*)"', lambda m, f: Invocation(cwd=f / "formats/Sphinx", paths=_named(m))),
    (r'I lint AsciiDoc "(.*)"', lambda m, f: Invocation(cwd=f / "formats/adoc", paths=_named(m))),
    (
        r'I lint reStructuredText "(.*)"',
        lambda m, f: Invocation(cwd=f / "formats/rst", paths=_named(m)),
    ),
    (
        r'I lint file "(\S+)" as "(\S+)"',
        lambda m, f: Invocation(
            cwd=f / "formats", paths=_named(m), read_as=m[2], unsupported="--ext"
        ),
    ),
    (
        r'I lint with config "(.*)"',
        lambda m, f: Invocation(cwd=f / "formats", paths=("test.md",), config=m[1]),
    ),
    (
        r'I lint string "(.*)"',
        lambda m, f: Invocation(
            cwd=f / "formats", paths=(), read_as=".txt", unsupported="a string to lint"
        ),
    ),
    (
        r'I run cat "(\S+)" "(\S+)"',
        lambda m, f: Invocation(
            cwd=f / "formats", paths=_named(m), read_as=m[2], unsupported="standard input"
        ),
    ),
    (r'I lint "(.*)"', lambda m, f: Invocation(cwd=f / "formats", paths=_named(m))),
    (
        r'I test comments for "(.*)"',
        lambda m, f: Invocation(cwd=f / "comments", paths=(f"test{m[1]}",)),
    ),
    (r'I test patterns for "(.*)"', lambda m, f: Invocation(cwd=f / "patterns", paths=_named(m))),
    (r'I test plugins for "(.*)"', lambda m, f: Invocation(cwd=f / "plugins", paths=_named(m))),
    (r'I test scope "(.*)"', lambda m, f: Invocation(cwd=f / "scopes" / m[1])),
    (r'I apply style "(.*)"', lambda m, f: Invocation(cwd=f / "styles" / m[1])),
    (r'I use Vocab "(.*)"', lambda m, f: Invocation(cwd=f / "vocab" / m[1])),
    (r'I test glob "(.*)"', lambda m, f: Invocation(cwd=f / "formats", unsupported="--glob")),
    (r'I test dir glob "(.*)"', lambda m, f: Invocation(cwd=f / "glob", unsupported="--glob")),
    (
        r'I sync pkg "(.*)"',
        lambda m, f: Invocation(cwd=f / "pkg" / m[1], paths=("test.md",), unsupported="vale sync"),
    ),
    # The step joins the strings as they are: `I test "/../../.."` leaves the fixtures.
    (r'I test "(.*)"', lambda m, f: Invocation(cwd=Path(f"{f}/{m[1]}"))),
    (r'I run vale "(.*)"', lambda m, f: Invocation(cwd=None, paths=_named(m))),
    (
        r'I assign minAlertLevel "(\S+)" "(\S+)"',
        lambda m, f: Invocation(cwd=None, paths=_named(m, 2), min_level=m[1]),
    ),
]


def invocation(scenario: Scenario, fixtures: Path) -> Invocation:
    for step in scenario.steps:
        for pattern, build in STEPS:
            if found := re.fullmatch(pattern, step.text):
                return build(found, fixtures)
    raise SystemExit(f"{scenario.feature.name}: {scenario.name!r}: no step runs Vale")


def is_markdown(path: str) -> bool:
    return path.lower().endswith(MARKDOWN)


@dataclass
class Outcome:
    feature: str
    name: str
    expected: Counter[str] = field(default_factory=Counter)  # on Markdown files
    other_formats: int = 0
    skipped: str = ""  # the reason category and what it names
    out_of_scope: str = ""
    produced: Counter[str] | None = None  # None when not run
    exactly: bool = True
    error: str = ""

    @property
    def matched(self) -> int:
        return sum((self.expected & (self.produced or Counter())).values())

    @property
    def extras(self) -> int:
        return (
            sum((self.produced - self.expected).values()) if self.produced and self.exactly else 0
        )

    @property
    def exact(self) -> bool:
        return (
            self.produced is not None
            and not self.error
            and self.matched == sum(self.expected.values())
            and self.extras == 0
        )


class _Settings(configparser.ConfigParser):
    def optionxform(self, optionstr: str) -> str:
        return optionstr  # Vale's keys are case-sensitive


def read_settings(path: Path) -> configparser.ConfigParser:
    """The raw keys of a .vale.ini, its global ones under a section of their own."""
    parser = _Settings(
        delimiters=("=",),
        comment_prefixes=("#", ";"),
        interpolation=None,
        strict=False,
        allow_no_value=True,
        default_section="\0default",
    )
    parser.read_string(f"[{_GLOBAL}]\n" + path.read_text("utf-8"))
    return parser


def find_config(cwd: Path, given: str | None, suite: Suite) -> Path | None:
    if given is not None:
        return cwd / given
    for folder in (cwd, *cwd.parents):
        for name in CONFIG_NAMES:
            if (folder / name).is_file():
                return folder / name
        if folder == suite.root:
            break
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class InForce:
    """What a config turns on for some files, read as config.py reads it: the last
    ``BasedOnStyles`` of the sections matching a file, switches from all of them."""

    styles: frozenset[str]  # styles based on, and styles of rules switched on
    built_ins: frozenset[str]  # Vale's built-in rules that run
    unread: tuple[str, ...]  # keys blockpass does not read


def in_force(settings: configparser.ConfigParser, files: list[str]) -> InForce:
    styles: set[str] = set()
    built_ins: set[str] = set()
    unread = [key for key in settings[_GLOBAL] if key not in READ_GLOBALS]
    for file in files:
        based_on: set[str] = set()
        switches: dict[str, str] = {}
        for name in settings.sections():
            if name == _GLOBAL or not Section(glob=name).matches(file):
                continue
            section = settings[name]
            if "BasedOnStyles" in section:
                based_on = {s.strip() for s in (section["BasedOnStyles"] or "").split(",")}
            switches.update({k: (v or "").lower() for k, v in section.items() if "." in k})
            unread += [
                f"[{name}] {k}" for k in section if k not in READ_IN_SECTIONS and "." not in k
            ]
        styles |= based_on | {k.split(".")[0] for k, v in switches.items() if v not in _OFF}
        built_ins |= {
            rule
            for rule in BUILT_IN
            if switches.get(rule, "yes" if "Vale" in based_on else "no") not in _OFF
        }
    return InForce(
        styles=frozenset(styles - {""}),
        built_ins=frozenset(built_ins),
        unread=tuple(dict.fromkeys(unread)),
    )


def styles_missing(
    settings: configparser.ConfigParser, config: Path, wanted: InForce, rules: set[str]
) -> list[str]:
    """The StylesPath, styles and vocabularies the scenario needs that are not in the shared
    data; Vale's built-in ``Vale`` style is never missing (whether blockpass implements its
    rules is another question, asked later)."""
    value = settings[_GLOBAL].get("StylesPath")
    styles_path = (config.parent / value).resolve() if value else None
    root = styles_path if styles_path is not None and styles_path.is_dir() else None
    styles = (wanted.styles | {rule.split(".")[0] for rule in rules}) - {"Vale"}
    missing = sorted(s for s in styles if root is None or not (root / s).is_dir())
    vocabs = [v.strip() for v in (settings[_GLOBAL].get("Vocab") or "").split(",") if v.strip()]
    for vocab in vocabs:
        places = ("config/vocabularies", "Vocab")
        if root is None or not any((root / p / vocab).is_dir() for p in places):
            missing.append(f"vocabulary {vocab}")
    if styles_path is not None and root is None and not missing:
        missing.append("its StylesPath")
    return missing


def not_implemented(loaded: dict[str, Rule], rules: set[str]) -> str:
    """The rules among ``rules`` that blockpass loads but cannot run, and Vale's built-in
    ones it did not load."""
    gaps = []
    for rule_id in sorted(rules):
        rule = loaded.get(rule_id)
        if rule is None and rule_id in BUILT_IN:
            gaps.append(f"built-in {rule_id}")
        elif rule is not None and not rule.implemented:
            gaps.append(f"{rule.extends} ({rule_id})")
    return ", ".join(gaps)


@contextmanager
def workdir(scenario: Scenario, run: Invocation, aruba: Path) -> Iterator[Path]:
    """The folder the step runs in; for the scratch folder, with the scenario's files
    written and their StylesPath made absolute, as read from Aruba's folder."""
    if run.cwd is not None:
        yield run.cwd
        return
    with tempfile.TemporaryDirectory() as scratch:
        for name, text in scenario.files().items():
            text = re.sub(
                r"^(\s*StylesPath\s*=\s*)(.*?)\s*$",
                lambda m: m[1] + str((aruba / m[2]).resolve()),
                text,
                flags=re.MULTILINE,
            )
            (Path(scratch) / name).write_text(text, "utf-8")
        yield Path(scratch)


def markdown_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(f for s in MARKDOWN for f in path.rglob(f"*{s}"))
    return [path] if path.is_file() and is_markdown(path.name) else []


def fixture_missing(cwd: Path, run: Invocation) -> Path | None:
    if not cwd.is_dir():
        return cwd
    return next((cwd / p for p in run.paths if not (cwd / p).exists()), None)


def score(scenario: Scenario, suite: Suite) -> Outcome:
    outcome = Outcome(feature=scenario.feature.name, name=scenario.name)
    expected = scenario.expected()
    if expected is None or not all(_ALERT.match(line) for line in expected[0]):
        outcome.skipped = "not an alert check"
        return outcome
    lines, outcome.exactly = expected
    outcome.expected = Counter(line for line in lines if is_markdown(line.split(":")[0]))
    outcome.other_formats = len(lines) - sum(outcome.expected.values())
    run = invocation(scenario, suite.fixtures)
    with workdir(scenario, run, suite.aruba) as cwd:
        # Named files that are not Markdown are left out: their lines are not scored.
        inputs = [p for p in run.paths if markdown_files(cwd / p)]
        if not (outcome.expected or inputs or is_markdown(run.read_as or "-")):
            outcome.skipped = "non-Markdown"
        elif run.unsupported:
            outcome.skipped = f"unsupported setting: {run.unsupported}"
        elif missing := fixture_missing(cwd, run):
            outcome.skipped = f"fixture missing: {suite.shown(missing)}"
        elif (config := find_config(cwd, run.config, suite)) is None or not config.is_file():
            outcome.skipped = f"fixture missing: {suite.shown(config or cwd / '.vale.ini')}"
        else:
            _run(outcome, cwd, run, inputs, config)
    return outcome


def _run(outcome: Outcome, cwd: Path, run: Invocation, inputs: list[str], config: Path) -> None:
    settings = read_settings(config)
    rules = {line.split(":")[3] for line in outcome.expected}
    files = {line.split(":")[0] for line in outcome.expected}
    files |= {f.relative_to(cwd).as_posix() for p in inputs for f in markdown_files(cwd / p)}
    wanted = in_force(settings, sorted(files))
    if missing := styles_missing(settings, config, wanted, rules):
        outcome.skipped = f"styles missing: {', '.join(missing)}"
        return
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        loaded = {r.id: r for p in read_vale_ini(config).load_packages() for r in p.rules}
        # A style folder of the shared data that lacks a rule the scenario expects.
        if absent := sorted(rules - loaded.keys() - BUILT_IN):
            outcome.skipped = f"styles missing: {', '.join(absent)}"
            return
        reasons = []
        if wanted.unread:
            reasons.append(f"unsupported setting: {', '.join(wanted.unread)}")
        if gaps := not_implemented(loaded, rules | wanted.built_ins):
            reasons.append(f"not implemented: {gaps}")
        outcome.out_of_scope = "; ".join(reasons)
        output, _ = lint_command(
            [Path(p) for p in inputs], [], "vale", run.min_level, config=config
        )
        outcome.produced = Counter(output.splitlines())
    except UserInputError as error:
        outcome.produced = Counter()
        outcome.error = str(error)
    finally:
        os.chdir(previous)


def _line(outcome: Outcome) -> str:
    total = sum(outcome.expected.values())
    if outcome.produced is None:
        figures = f"{'-':>3}/{total:<3} {'':>5}"
        verdict = f"skipped: {outcome.skipped}"
    else:
        figures = f"{outcome.matched:>3}/{total:<3} {('+' + str(outcome.extras)) if outcome.exactly else 'n/a':>5}"
        verdict = "exact" if outcome.exact else "DIFFERS"
        if outcome.error:
            verdict += f" (blockpass: {outcome.error})"
        if outcome.out_of_scope:
            verdict += f" [out of scope: {outcome.out_of_scope}]"
    return f"{outcome.feature:<18}{outcome.name[:46]:<47}{figures}  {verdict}"


def _diff(outcome: Outcome) -> list[str]:
    produced = outcome.produced or Counter()
    lines = [f"      - {line}" for line in sorted((outcome.expected - produced).elements())]
    if outcome.exactly:
        lines += [f"      + {line}" for line in sorted((produced - outcome.expected).elements())]
    return lines


def summary(outcomes: list[Outcome]) -> list[str]:
    ran = [o for o in outcomes if o.produced is not None]
    in_scope = [o for o in ran if not o.out_of_scope]
    out = [o for o in ran if o.out_of_scope]
    skipped = Counter(o.skipped.split(":")[0] for o in outcomes if o.produced is None)
    markdown = [o for o in outcomes if o.skipped not in ("non-Markdown", "not an alert check")]

    def alerts(group: list[Outcome]) -> str:
        matched = sum(o.matched for o in group)
        total = sum(sum(o.expected.values()) for o in group)
        return f"{matched}/{total} expected alerts matched, {sum(o.extras for o in group)} extra"

    return [
        f"Vale suite: {len(outcomes)} scenarios, {len(markdown)} on Markdown, {len(ran)} run",
        f"  in scope:     {sum(o.exact for o in in_scope)}/{len(in_scope)} scenarios exact; {alerts(in_scope)}",
        f"  out of scope: {sum(o.exact for o in out)}/{len(out)} scenarios exact; {alerts(out)}",
        f"  all run:      {sum(o.exact for o in ran)}/{len(ran)} scenarios exact; {alerts(ran)}",
        "  skipped: " + ", ".join(f"{n} {reason}" for reason, n in skipped.most_common()),
        f"  expected Markdown alerts in Markdown scenarios not run: "
        f"{sum(sum(o.expected.values()) for o in markdown if o.produced is None)}",
        f"  expected alerts on other formats (never scored): {sum(o.other_formats for o in outcomes)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--diff", action="store_true", help="print the lines that differ")
    parser.add_argument(
        "--suite",
        type=Path,
        default=VALE_SUITE,
        help="a copy of Vale's testdata folder (default: the shared data's, without styles)",
    )
    args = parser.parse_args()
    suite = Suite(args.suite.resolve())
    if not (suite.root / "features").is_dir():
        raise SystemExit(f"{suite.root}: no features folder (not a copy of Vale's testdata)")
    started = time.monotonic()
    outcomes = [
        score(each, suite)
        for feature in sorted((suite.root / "features").glob("*.feature"))
        for each in read_feature(feature)
    ]
    styles = "present" if (suite.root / "styles").is_dir() else "absent"
    print(f"Vale's suite at {suite.root} (its styles folder: {styles})\n")
    for outcome in outcomes:
        print(_line(outcome))
        if args.diff and outcome.produced is not None and not outcome.exact:
            for line in _diff(outcome):
                print(line)
    print()
    print("\n".join(summary(outcomes)))
    print()
    for style in PACKAGES:
        print(conformance_report(style, conformance(style)))
    print(f"\n{time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
