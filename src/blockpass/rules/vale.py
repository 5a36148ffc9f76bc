"""Loading Vale style packages (a folder of YAML rules) into immutable ``Rule`` values.

Every rule file is kept, whatever its extension point: a rule this engine cannot run is
loaded with ``implemented=False`` and a ``reason`` (sequence and script; a capitalization
rule with ``match: $title``; a readability metric Vale does not know; a pattern no engine
compiles), so that it is handed to the model instead of being dropped. The whole YAML
mapping is kept in ``definition``, where the extension points read their own keys
(``first``/``second``, ``match``, ``max``, ...).

Defaults follow Vale's loader: ``level: warning``, ``scope: text``, ids ``Style.FileStem``;
metric and readability rules always read the summary, as in Vale. A metric formula that
does not parse is the rule file's error.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from blockpass.errors import UserInputError
from blockpass.files import read_text
from blockpass.rules.alerts import Matcher
from blockpass.rules.capitalization import UnsupportedRule, compile_capitalization
from blockpass.rules.checks import (
    compile_conditional,
    compile_consistency,
    compile_occurrence,
    compile_repetition,
)
from blockpass.rules.engine import RegexError, compile_existence, compile_substitution
from blockpass.rules.formula import FormulaError
from blockpass.rules.metrics import DOCUMENT_LEVEL, compile_metric, compile_readability
from blockpass.rules.spelling import SpellingMatcher, compile_spelling

__all__ = [
    "EXTENSION_POINTS",
    "IMPLEMENTED_EXTENSION_POINTS",
    "LEVELS",
    "Action",
    "Rule",
    "RulePackage",
    "load_styles",
    "load_vale_package",
    "load_vale_rule",
    "rule_from_mapping",
    "with_exceptions",
]

EXTENSION_POINTS = frozenset(
    {
        "capitalization",
        "conditional",
        "consistency",
        "existence",
        "metric",
        "occurrence",
        "readability",
        "repetition",
        "script",
        "sequence",
        "spelling",
        "substitution",
    }
)
IMPLEMENTED_EXTENSION_POINTS = frozenset(
    {
        "capitalization",
        "conditional",
        "consistency",
        "existence",
        "metric",
        "occurrence",
        "readability",
        "repetition",
        "spelling",
        "substitution",
    }
)
LEVELS = ("suggestion", "warning", "error")
_EXTENDS = re.compile(r"^extends\s*:", re.MULTILINE)
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    name: str = ""
    params: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One rule file. ``definition`` is its whole YAML mapping; ``matcher`` is the compiled
    rule, set when ``implemented``; otherwise ``reason`` says why it cannot run here."""

    id: str
    style: str
    name: str
    path: Path
    extends: str
    level: str = "warning"
    message: str = ""
    description: str = ""
    link: str = ""
    scope: tuple[str, ...] = ("text",)
    ignorecase: bool = False
    nonword: bool = False
    append: bool = False
    capitalize: bool = False
    raw: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    swap: tuple[tuple[str, str], ...] = ()
    exceptions: tuple[str, ...] = ()
    action: Action = Action()
    definition: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    implemented: bool = False
    reason: str = ""
    matcher: Matcher | None = field(default=None, compare=False, repr=False)
    # A digest of the files the rule reads besides its own (a spelling rule's dictionaries
    # and word lists), for the task's fingerprint.
    sources: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RulePackage:
    """A style: its rules sorted by file name, compiled once when loaded."""

    name: str
    path: Path
    rules: tuple[Rule, ...]

    @property
    def implemented(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.implemented)

    @property
    def unimplemented(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if not r.implemented)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id or r.name == rule_id:
                return r
        raise KeyError(rule_id)


class _ValeYamlLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true/false are booleans.

    Vale reads rules with Go's yaml.v3, for which an unquoted `on`, `no` or `y` in a token
    list or swap table is a word; YAML 1.1 (PyYAML's default) would turn it into a bool.
    """


_ValeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ValeYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _fail(path: Path, problem: str) -> UserInputError:
    return UserInputError(f"{path}: {problem}")


def _scalar(value: object, path: Path, key: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    raise _fail(path, f"'{key}' must be a string, not {type(value).__name__}")


def _strings(value: object, path: Path, key: str) -> tuple[str, ...]:
    # Vale decodes weakly: a single string where a list is expected is a one-item list.
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(_scalar(v, path, key) for v in value)
    return (_scalar(value, path, key),)


def _flag(value: object, path: Path, key: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.lower() in {"true", "t", "1", "false", "f", "0"}:
        return value.lower() in {"true", "t", "1"}
    raise _fail(path, f"'{key}' must be true or false, not {value!r}")


def _swap(value: object, path: Path, key: str = "swap") -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise _fail(path, "'swap' must be a mapping of pattern: replacement")
    return tuple((_scalar(k, path, "swap"), _scalar(v, path, "swap")) for k, v in value.items())


def _action(value: object, path: Path) -> Action:
    if value is None:
        return Action()
    if not isinstance(value, dict):
        raise _fail(path, "'action' must be a mapping with 'name' and 'params'")
    return Action(
        name=_scalar(value.get("name"), path, "action.name"),
        params=_strings(value.get("params"), path, "action.params"),
    )


def _read_mapping(path: Path) -> dict[str, Any]:
    text = read_text(path, what="a Vale rule file")
    try:
        # Safe: _ValeYamlLoader is a SafeLoader; only its boolean spelling differs.
        data = yaml.load(text, Loader=_ValeYamlLoader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _fail(path, f"invalid YAML{line}: {problem}") from exc
    if not isinstance(data, dict):
        raise _fail(path, "a rule file must be a YAML mapping")
    return {str(k): v for k, v in data.items()}


def _compile(rule: Rule) -> Matcher:
    point, definition = rule.extends, rule.definition
    if point == "existence":
        return compile_existence(
            tokens=rule.tokens,
            raw=rule.raw,
            nonword=rule.nonword,
            ignorecase=rule.ignorecase,
            append=rule.append,
            exceptions=rule.exceptions,
        )
    if point == "substitution":
        return compile_substitution(
            swap=rule.swap,
            nonword=rule.nonword,
            ignorecase=rule.ignorecase,
            exceptions=rule.exceptions,
        )
    if point == "occurrence":
        return compile_occurrence(definition, rule.ignorecase)
    if point == "repetition":
        return compile_repetition(definition, rule.tokens, rule.ignorecase, rule.exceptions)
    if point == "conditional":
        return compile_conditional(definition, rule.exceptions)
    if point == "spelling":
        return compile_spelling(
            definition, rule_id=rule.id, path=rule.path, exceptions=rule.exceptions
        )
    if point == "consistency":
        return compile_consistency(
            definition, rule.name, nonword=rule.nonword, ignorecase=rule.ignorecase
        )
    if point == "metric":
        return compile_metric(definition)
    if point == "readability":
        return compile_readability(definition)
    return compile_capitalization(definition, rule.exceptions)


def _matcher_for(rule: Rule) -> tuple[Matcher | None, str]:
    try:
        return _compile(rule), ""
    except UnsupportedRule as exc:
        return None, str(exc)
    except RegexError as exc:
        return None, f"pattern does not compile: {exc}"
    except FormulaError as exc:
        raise _fail(rule.path, f"rule {rule.id}: {exc}") from None


def load_vale_rule(path: Path, *, style: str | None = None) -> Rule:
    """Read one rule file; ``style`` defaults to the name of the folder holding it."""
    style = style if style is not None else path.parent.name
    return rule_from_mapping(_read_mapping(path), path=path, style=style)


def rule_from_mapping(
    data: Mapping[str, Any], *, path: Path, style: str, name: str | None = None
) -> Rule:
    """A rule from its YAML mapping; ``path`` is where it came from (for errors), ``name``
    its file stem unless given."""
    name = name if name is not None else path.name.split(".")[0]
    extends = data.get("extends")
    if not isinstance(extends, str) or extends not in EXTENSION_POINTS:
        known = ", ".join(sorted(EXTENSION_POINTS))
        raise _fail(path, f"'extends' must be one of {known}; got {extends!r}")
    if "message" not in data:
        raise _fail(path, "missing the required 'message' key")
    level = _scalar(data.get("level", "warning"), path, "level")
    if level not in LEVELS:
        raise _fail(path, f"'level' must be one of {', '.join(LEVELS)}; got {level!r}")
    # The keys below have one shape in every extension point this engine runs; others reuse
    # some names with other shapes (sequence's `tokens` are mappings), so for them a key
    # that does not fit is left to `definition` instead of failing the load.
    strict = extends in IMPLEMENTED_EXTENSION_POINTS

    def own(parse: Callable[[object, Path, str], _T], key: str, default: _T) -> _T:
        try:
            return parse(data.get(key), path, key)
        except UserInputError:
            if strict:
                raise
            return default

    rule = Rule(
        id=f"{style}.{name}",
        style=style,
        name=name,
        path=path,
        extends=extends,
        level=level,
        message=_scalar(data.get("message"), path, "message"),
        description=_scalar(data.get("description"), path, "description"),
        link=_scalar(data.get("link"), path, "link"),
        scope=("summary",)
        if extends in DOCUMENT_LEVEL
        else _strings(data.get("scope", "text"), path, "scope"),
        action=_action(data.get("action"), path),
        ignorecase=own(_flag, "ignorecase", False),
        nonword=own(_flag, "nonword", False),
        append=own(_flag, "append", False),
        capitalize=own(_flag, "capitalize", False),
        raw=own(_strings, "raw", ()),
        tokens=own(_strings, "tokens", ()),
        swap=own(_swap, "swap", ()),
        exceptions=own(_strings, "exceptions", ()),
        definition=MappingProxyType(dict(data)),
    )
    if extends not in IMPLEMENTED_EXTENSION_POINTS:
        return replace(rule, reason=f"extension point '{extends}' is not implemented yet")
    return _compiled(rule)


def _compiled(rule: Rule) -> Rule:
    matcher, reason = _matcher_for(rule)
    sources = matcher.sources if isinstance(matcher, SpellingMatcher) else ""
    return replace(
        rule, implemented=matcher is not None, reason=reason, matcher=matcher, sources=sources
    )


def with_exceptions(rule: Rule, extra: Sequence[str]) -> Rule:
    """``rule`` with ``extra`` added to its exceptions (a Vocab's accepted terms)."""
    if not rule.implemented or not extra:
        return rule
    return _compiled(replace(rule, exceptions=(*rule.exceptions, *extra)))


def load_vale_package(folder: Path) -> RulePackage:
    """Load every ``*.yml`` rule of a style folder (e.g. ``styles/Google/Google``)."""
    if not folder.is_dir():
        raise UserInputError(f"{folder}: not a folder of Vale rules")
    rules = tuple(load_vale_rule(p, style=folder.name) for p in sorted(folder.glob("*.yml")))
    return RulePackage(name=folder.name, path=folder, rules=rules)


def _is_style(folder: Path) -> bool:
    """Whether ``folder`` holds Vale rules (a YAML file with ``extends``), not only other
    YAML (a CI workflow, a ``docs.yml``) or other folders."""
    for path in folder.glob("*.yml"):
        try:
            if _EXTENDS.search(path.read_text(encoding="utf-8", errors="replace")):
                return True
        except OSError:
            continue
    return False


def load_styles(styles: Sequence[Path]) -> list[RulePackage]:
    """Each path is a style folder (holding rule files) or a Vale ``StylesPath`` whose
    subfolders are styles; files and folders without rules beside them (``config``,
    ``fixtures``, a README or unrelated YAML) are passed over."""
    packages: list[RulePackage] = []
    for path in styles:
        if not path.is_dir():
            raise UserInputError(f"--styles: not a folder: {path}")
        if _is_style(path):
            packages.append(load_vale_package(path))
            continue
        found = [sub for sub in sorted(path.iterdir()) if sub.is_dir() and _is_style(sub)]
        if not found:
            raise UserInputError(f"--styles: no Vale rules in {path} or its subfolders")
        packages.extend(load_vale_package(sub) for sub in found)
    return packages
