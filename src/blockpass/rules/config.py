"""Reading a ``.vale.ini``: which styles and rules apply to which files, at what level.

Enough of Vale's configuration for style packages' fixtures and ordinary projects:

- global keys before the first section: ``StylesPath`` (relative to the file) and
  ``MinAlertLevel`` (``warning`` when not set: Vale's ``core.NewConfig`` starts from level 1,
  whatever its documentation says), ``Vocab`` (``rules/vocab.py``), ``IgnoredScopes``,
  ``SkippedScopes`` and ``IgnoredClasses`` (``rules/ignores.py``); other keys
  (``Packages``, ...) are read and ignored;
- a section per file glob (``[*.md]``, ``[*.{md,rst}]``, ``[docs/**.md]``, ``[*]``) with
  ``BasedOnStyles = A, B`` and per-rule switches ``Style.Rule = YES`` / ``NO`` or a level
  (``Style.Rule = error``), which also changes the rule's level, and ``TokenIgnores`` and
  ``BlockIgnores`` (or its older name ``IgnorePatterns``): comma-separated patterns, as
  Vale splits them, for every file the section matches.

A rule runs on a file when one of the file's sections switches it on, or its style is among
the file's ``BasedOnStyles`` and no section switches it off; then only when its level is at
least ``MinAlertLevel``, or the level asked for on the command line, which replaces it as
Vale's ``--minAlertLevel`` does (lower or higher). Later sections win over earlier ones, as
in Vale. Switches that name rules a style does not have are ignored, as Vale ignores them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path

from blockpass.errors import UserInputError
from blockpass.files import read_text
from blockpass.rules.ignores import Ignores, check_pattern
from blockpass.rules.vale import LEVELS, Rule, RulePackage, load_vale_package, with_exceptions
from blockpass.rules.vocab import Vocabulary, read_vocabularies

__all__ = ["DEFAULT_MIN_LEVEL", "Section", "ValeConfig", "read_vale_ini", "select_rules"]

DEFAULT_MIN_LEVEL = "warning"

_BRACES = re.compile(r"\{([^{}]*)\}")
_TOKEN_IGNORES = "TokenIgnores"
_IGNORE_KEYS = frozenset({_TOKEN_IGNORES, "BlockIgnores", "IgnorePatterns"})
_SWITCH_VALUES = {"yes": "on", "true": "on", "no": "off", "false": "off"}


def _expand(pattern: str) -> list[str]:
    """``*.{md,rst}`` → ``*.md``, ``*.rst``."""
    found = _BRACES.search(pattern)
    if found is None:
        return [pattern]
    head, tail = pattern[: found.start()], pattern[found.end() :]
    return [e for option in found.group(1).split(",") for e in _expand(head + option + tail)]


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    glob: str
    based_on: tuple[str, ...] | None = None
    # rule id → "on", "off" or a level (which also switches the rule on)
    switches: Mapping[str, str] = field(default_factory=dict)
    token_ignores: tuple[str, ...] = ()
    block_ignores: tuple[str, ...] = ()

    def matches(self, path: str) -> bool:
        name = path.rsplit("/", 1)[-1]
        return any(
            fnmatchcase(path, p.replace("**", "*")) or fnmatchcase(name, p)
            for p in _expand(self.glob)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ValeConfig:
    path: Path | None = None
    styles_path: Path | None = None
    min_level: str = DEFAULT_MIN_LEVEL
    sections: tuple[Section, ...] = ()
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    ignored_scopes: frozenset[str] = frozenset()
    skipped_scopes: frozenset[str] = frozenset()
    ignored_classes: frozenset[str] = frozenset()

    def settings(self) -> list[object]:
        """What decides which rule reads what, without where the files are: part of the
        task's fingerprint, so that results made under other settings are not reused."""
        sections = [
            (s.glob, s.based_on, sorted(s.switches.items()), s.token_ignores, s.block_ignores)
            for s in self.sections
        ]
        vocabulary = (self.vocabulary.accept, self.vocabulary.reject)
        scopes = [sorted(self.ignored_scopes), sorted(self.skipped_scopes)]
        return [self.min_level, sections, vocabulary, scopes, sorted(self.ignored_classes)]

    @property
    def style_names(self) -> tuple[str, ...]:
        """Every style a section names, in first-mention order."""
        names: dict[str, None] = {}
        for section in self.sections:
            names.update(dict.fromkeys(section.based_on or ()))
            names.update(dict.fromkeys(rule.split(".")[0] for rule in section.switches))
        return tuple(names)

    def load_packages(self) -> list[RulePackage]:
        """The named styles found under ``StylesPath`` (Vale's built-in ``Vale`` style and
        styles that are not there are skipped)."""
        vocabulary = self.vocabulary.package()
        built_in = [vocabulary] if vocabulary is not None else []
        if self.styles_path is None:
            return built_in
        folders = [self.styles_path / name for name in self.style_names]
        return [load_vale_package(folder) for folder in folders if folder.is_dir()] + built_in

    def ignores_for(self, path: str) -> Ignores:
        """What no rule reads in the file ``path``: the patterns of every section matching
        it, and the tags of ``IgnoredScopes``."""
        sections = [section for section in self.sections if section.matches(path)]
        return Ignores(
            tokens=tuple(p for section in sections for p in section.token_ignores),
            blocks=tuple(p for section in sections for p in section.block_ignores),
            scopes=self.ignored_scopes,
            skipped=self.skipped_scopes,
            classes=self.ignored_classes,
        )

    def rules_for(
        self, path: str, rules: Iterable[Rule], min_level: str | None = None
    ) -> list[Rule]:
        """The rules that run on the file ``path`` (posix, as linted), with their levels;
        ``min_level`` replaces ``MinAlertLevel`` for this run (Vale's ``--minAlertLevel``)."""
        based_on: tuple[str, ...] = ()
        switches: dict[str, str] = {}
        for section in self.sections:
            if section.matches(path):
                if section.based_on is not None:
                    based_on = section.based_on
                switches.update(section.switches)
        floor = LEVELS.index(min_level or self.min_level)
        selected = []
        for rule in rules:
            switch = switches.get(rule.id, "on" if rule.style in based_on else "off")
            if switch == "off":
                continue
            if switch in LEVELS:
                rule = replace(rule, level=switch)
            # A rule with `vocab: false` keeps its own exceptions only.
            vocab = rule.definition.get("vocab", True) is not False
            if vocab and rule.style in based_on and rule.style != "Vale":
                rule = _accepting(rule, self.vocabulary.accept)
            if LEVELS.index(rule.level) >= floor:
                selected.append(rule)
        return selected


@lru_cache(maxsize=1024)
def _accepting(rule: Rule, accepted: tuple[str, ...]) -> Rule:
    """A Vocab's accepted terms are exceptions to every rule of the styles a file is based
    on (compiled once per rule, not once per file)."""
    return with_exceptions(rule, accepted)


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _patterns(value: str, where: str) -> tuple[str, ...]:
    patterns = _list(value)
    for pattern in patterns:
        if problem := check_pattern(pattern):
            raise UserInputError(f"{where}: {pattern!r} does not compile: {problem}")
    return patterns


def _level(value: str, where: str) -> str:
    if value not in LEVELS:
        raise UserInputError(f"{where}: MinAlertLevel must be one of {', '.join(LEVELS)}")
    return value


def read_vale_ini(path: Path) -> ValeConfig:
    lines = read_text(path, what="a Vale configuration").splitlines()
    globals_: dict[str, str] = {}
    sections: list[Section] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append(Section(glob=line[1:-1].strip()))
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            raise UserInputError(f"{path}:{number}: expected 'key = value', got {raw!r}")
        if not sections:
            globals_[key] = value
        elif key == "BasedOnStyles":
            sections[-1] = replace(sections[-1], based_on=_list(value))
        elif key in _IGNORE_KEYS:
            patterns = _patterns(value, f"{path}:{number}: {key}")
            section = sections[-1]
            if key == _TOKEN_IGNORES:
                section = replace(section, token_ignores=(*section.token_ignores, *patterns))
            else:
                section = replace(section, block_ignores=(*section.block_ignores, *patterns))
            sections[-1] = section
        elif "." in key:
            setting = _SWITCH_VALUES.get(value.lower(), value.lower())
            if setting not in ("on", "off", *LEVELS):
                raise UserInputError(f"{path}:{number}: '{key}' must be YES, NO or a level")
            switches = {**sections[-1].switches, key: setting}
            sections[-1] = replace(sections[-1], switches=switches)
    styles_path = globals_.get("StylesPath")
    resolved = (path.parent / styles_path).resolve() if styles_path else None
    vocabs = _list(globals_.get("Vocab", ""))
    return ValeConfig(
        path=path,
        styles_path=resolved,
        min_level=_level(globals_.get("MinAlertLevel", DEFAULT_MIN_LEVEL), str(path)),
        sections=tuple(sections),
        vocabulary=read_vocabularies(resolved, vocabs, str(path)),
        ignored_scopes=frozenset(_list(globals_.get("IgnoredScopes", ""))),
        skipped_scopes=frozenset(_list(globals_.get("SkippedScopes", ""))),
        ignored_classes=frozenset(_list(globals_.get("IgnoredClasses", ""))),
    )


def select_rules(
    packages: Sequence[RulePackage], config: ValeConfig | None, path: str, min_level: str | None
) -> list[Rule]:
    """Without a config every rule of the packages runs at or above ``min_level`` (by
    default Vale's own default, ``warning``)."""
    rules = [rule for package in packages for rule in package.rules]
    if config is not None:
        return config.rules_for(path, rules, min_level)
    floor = LEVELS.index(min_level or DEFAULT_MIN_LEVEL)
    return [rule for rule in rules if LEVELS.index(rule.level) >= floor]
