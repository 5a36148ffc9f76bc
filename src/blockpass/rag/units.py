"""Rule units: the pieces of reference material that retrieval ranks and a prompt carries.

A unit is one guide section (Markdown or AsciiDoc, by heading), one glossary entry, or one
Vale rule. Its ``id`` is stable across runs and edits elsewhere in the corpus: it is made of
the source path and the section's anchor (the id a reader of the rendered guide links to),
never of a position alone. ``text`` is ready to put in a prompt (markup as written, YAML front
matter never included); ``triggers`` are the words and patterns whose presence in a block
makes the unit a candidate with certainty.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from blockpass.errors import UserInputError
from blockpass.rules.vale import Rule, RulePackage

__all__ = [
    "RuleUnit",
    "Triggers",
    "UnitKind",
    "guide_units",
    "load_units",
    "vale_units",
]

# Vale extension points whose tokens or swap keys say where the rule applies.
_WORD_LIST_POINTS = frozenset({"existence", "substitution", "occurrence", "repetition"})


class UnitKind(StrEnum):
    GUIDE_SECTION = "guide section"
    GLOSSARY_ENTRY = "glossary entry"
    VALE_RULE = "vale rule"


@dataclass(frozen=True, slots=True)
class Triggers:
    """``terms`` are literal words or phrases, found case-insensitively as whole words;
    ``pattern`` is one regular expression in Vale's syntax (empty for none)."""

    terms: tuple[str, ...] = ()
    pattern: str = ""

    def __bool__(self) -> bool:
        return bool(self.terms or self.pattern)


@dataclass(frozen=True, slots=True)
class RuleUnit:
    """``source`` is the file the unit comes from, relative to its guide's root (a Vale rule:
    ``Style/Rule.yml``); ``anchor`` the section id in it (a Vale rule: its id);
    ``heading_path`` the titles of the enclosing sections, outermost first; ``level`` the
    section's depth in the rendered guide (0 = document title; a Vale rule: 0)."""

    id: str
    kind: UnitKind
    title: str
    text: str
    source: str
    anchor: str
    heading_path: tuple[str, ...] = ()
    level: int = 0
    triggers: Triggers = Triggers()

    @property
    def search_text(self) -> str:
        """What the lexical and dense retrievers read: where it sits, its title, its text."""
        return "\n".join((*self.heading_path, self.title, self.text))


def unit_id(guide_name: str, source: str, anchor: str) -> str:
    """``guide/source#anchor`` for a guide folder, ``source#anchor`` for a one-file guide."""
    place = f"{guide_name}/{source}" if guide_name else source
    return f"{place}#{anchor}" if anchor else place


def load_units(guides: Sequence[Path], packages: Sequence[RulePackage]) -> list[RuleUnit]:
    """Every unit of the guides (Markdown or AsciiDoc files or folders) and the style
    packages, guides first, each in reading order; ids are unique."""
    units: list[RuleUnit] = []
    for guide in guides:
        units.extend(guide_units(guide))
    units.extend(vale_units(packages))
    seen: set[str] = set()
    for unit in units:
        if unit.id in seen:
            raise UserInputError(f"two reference units share the id {unit.id}: give each once")
        seen.add(unit.id)
    return units


def guide_units(path: Path) -> list[RuleUnit]:
    """A guide's units: a Markdown or AsciiDoc file, or a folder of either (an AsciiDoc
    folder is read from its main document, which ``include::``s the rest)."""
    from blockpass.rag.asciidoc_guide import asciidoc_units, main_document
    from blockpass.rag.markdown_guide import markdown_units

    if not path.exists():
        raise UserInputError(f"guide not found: {path}")
    if path.is_dir():
        main = main_document(path)
        units = asciidoc_units(main, root=path, name=path.name) if main else markdown_units(path)
    elif path.suffix.lower() in (".adoc", ".asciidoc", ".asc"):
        units = asciidoc_units(path, root=path.parent, name="")
    else:
        units = markdown_units(path)
    if not units:
        raise UserInputError(f"guide has no text outside its front matter: {path}")
    return units


def vale_units(packages: Sequence[RulePackage]) -> list[RuleUnit]:
    """One unit per rule: its message, description, word list and link, in prompt form."""
    return [_vale_unit(rule) for package in packages for rule in package.rules]


def _vale_unit(rule: Rule) -> RuleUnit:
    words = [*rule.tokens, *(key for key, _ in rule.swap)]
    lines = [f"{rule.id} ({rule.extends}, {rule.level})"]
    if rule.message:
        lines.append(f"Message: {rule.message}")
    if rule.description:
        lines.append(f"Description: {rule.description.strip()}")
    if rule.swap:
        lines.append("Replace: " + "; ".join(f"{key} → {value}" for key, value in rule.swap))
    elif rule.tokens:
        lines.append("Flags: " + ", ".join(rule.tokens))
    if rule.link:
        lines.append(f"Link: {rule.link}")
    return RuleUnit(
        id=rule.id,
        kind=UnitKind.VALE_RULE,
        title=rule.id,
        text="\n".join(lines),
        source=f"{rule.style}/{rule.path.name}",
        anchor=rule.id,
        triggers=Triggers(pattern=_vale_pattern(rule, words)),
    )


def _vale_pattern(rule: Rule, words: Sequence[str]) -> str:
    """The rule's word list as Vale joins it (``\\b(?:a|b)\\b``, case as the rule says);
    rules that judge something other than words (metrics, capitalization) have none."""
    words = [word for word in words if word.strip()]
    if rule.extends not in _WORD_LIST_POINTS or not words:
        return ""
    body = "(?:" + "|".join(_without_named_groups(word) for word in words) + ")"
    if not rule.nonword:
        body = rf"\b{body}\b"
    return f"(?i){body}" if rule.ignorecase else body


_NAMED_GROUP = re.compile(r"\(\?P?<(?![=!])\w+>")


def _without_named_groups(pattern: str) -> str:
    # Two words naming the same group would make the joined pattern invalid.
    return _NAMED_GROUP.sub("(?:", pattern)
