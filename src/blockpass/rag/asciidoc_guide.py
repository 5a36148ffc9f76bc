"""AsciiDoc guides → units, read as Asciidoctor reads the book.

- ``include::target[leveloffset=±N]`` is resolved relative to the including file, at any
  depth, with its level offset; a target that does not exist, or lies outside the guide's
  folder (as Asciidoctor's safe modes refuse too), is the guide's error. Nothing is fetched.
- A section runs from its heading (``=`` count, minus one, plus the offset) to the next
  heading; headings inside delimited blocks (listings, examples, tables, comments) and
  ``[discrete]`` headings are text.
- A section's id is its ``[[id]]``, ``[id="id"]`` or ``[#id]`` anchor, else the id
  Asciidoctor generates from its title (``_`` + lower case, ``_`` for spaces, a ``_2``
  suffix on a repeat): the ids a link into the published guide uses.
- A leaf section under a section titled "Glossary..." is a glossary entry; its term and the
  forms its ``*Incorrect forms*:`` line lists are its triggers.
- Document attributes (``:name: value``) are resolved where defined, with Asciidoctor's
  character attributes (``{nbsp}`` is a space in a unit's text); undefined ones stay as
  written (``{product}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from blockpass.errors import UserInputError
from blockpass.files import read_text
from blockpass.rag.units import RuleUnit, Triggers, UnitKind, unit_id

__all__ = ["asciidoc_units", "main_document"]

MAX_INCLUDE_DEPTH = 64  # Asciidoctor's own limit
_MAIN_NAMES = ("main.adoc", "index.adoc", "master.adoc", "book.adoc")
_INCLUDE = re.compile(r"^include::(\S+?)\[(.*)\]\s*$")
_LEVEL_OFFSET = re.compile(r"leveloffset=([+-]?\d+)")
_ATTRIBUTE_ENTRY = re.compile(r"^:(!?[\w-]+!?):(?:\s+(.*))?$")
_ATTRIBUTE_REFERENCE = re.compile(r"\{([\w-]+)\}")
_HEADING = re.compile(r"^(={1,6})\s+(\S.*?)\s*$")
_DELIMITER = re.compile(r"^(-{4,}|\.{4,}|={4,}|\*{4,}|_{4,}|\+{4,}|/{4,}|\|===+|--)\s*$")
_ANCHOR = re.compile(
    r"""^\[\[([\w:.-]+)(?:,.*)?\]\]$|^\[(?:id=["']?([\w:.-]+)["']?|#([\w:-]+)).*\]$"""
)
_BLOCK_ATTRIBUTES = re.compile(r"^\[.*\]$")
_ICON = re.compile(r"image:[^\s\[]*\[[^\]]*\]\s*")
# What a reader of the rendered guide does not see, or sees as less (outside delimited
# blocks): a line of roles only (``[.vale-ignore]``, styling and tool hints), a label with
# nothing after it (``*See also*:``), an inline image (read as its alt text, as a screen
# reader does).
_ROLES = re.compile(r"^\[\.[\w.-]+\]\s*$")
_EMPTY_LABEL = re.compile(r"^\*[^*]+\*:\s*$")
_INLINE_IMAGE = re.compile(r"image:[^\s\[:]+\[([^\],]*)[^\]]*\]")
# A cross-reference with its own text reads as that text; the target id is not shown.
_XREF = re.compile(r"xref:[^\s\[]+\[([^\]]+)\]")
_EMPHASIS = re.compile(r"(?<![\w*_`])([*_`+]{1,2})(\S(?:.*?\S)?)\1(?![\w*_`])")
_INVALID_ID_CHARACTERS = re.compile(
    r"<[^>]+>|&(?:[a-z][a-z]+\d{0,2}|#\d\d\d{0,4}|#x[\da-f][\da-f][\da-f]{0,3});|[^ \w\-.]+"
)
_INCORRECT_FORMS = re.compile(r"^\*Incorrect forms\*:[ \t]*(.*)$", re.MULTILINE)
# "term (noun)" names a part of speech; "ampersand (&)", "term (ABBR)" another form (no
# lower-case letter); "IBM Cloud Bare Metal (Classic) (noun)" keeps its own "(Classic)".
_PARENTHESIS = re.compile(r"^(.*?)\s*\(([^()]+)\)$")
_PART_OF_SPEECH = re.compile(r"^[a-z ,/-]+$")
# Trademark marks, as AsciiDoc writes them (``^TM^``, ``(R)``: Asciidoctor renders them as
# ``™``, ``®``) or as the symbols: no writer types them in running text.
_TRADEMARK = re.compile(r"\^(?:TM|SM|\((?:R|TM|C)\)|[®™©℠])\^|\((?:R|TM|C)\)|[®™©℠]")
# Editorial words among the forms: a remark after a form ("Source Navigator (without
# trademark symbol)", "Systemd (unless at the start of a sentence)."), the list's
# connective ("x64, x86-64, or x86") and entries that stand for no form ("or other
# variations.", "and so on").
_REMARK = re.compile(r"\s*\([a-z][^()]*\)\.?$")
_CONNECTIVE = re.compile(r"^(?:or|and)\s+")
_NO_FORM = re.compile(r"^(?:(?:any\s+)?(?:other\s+)?variations?|so\s+on|etc)\.?$", re.IGNORECASE)
# Asciidoctor's character replacement attributes, as plain text (an HTML entity in a title).
_CHARACTERS = {
    "nbsp": (" ", "&#160;"),
    "zwsp": ("", "&#8203;"),
    "wj": ("", "&#8288;"),
    "sp": (" ", " "),
    "empty": ("", ""),
    "apos": ("'", "&#39;"),
    "quot": ('"', "&#34;"),
    "amp": ("&", "&amp;"),
    "lt": ("<", "&lt;"),
    "gt": (">", "&gt;"),
    "startsb": ("[", "["),
    "endsb": ("]", "]"),
    "vbar": ("|", "|"),
    "caret": ("^", "^"),
    "asterisk": ("*", "*"),
    "tilde": ("~", "~"),
    "plus": ("+", "&#43;"),
    "backslash": ("\\", "\\"),
    "backtick": ("`", "`"),
    "two-colons": ("::", "::"),
    "two-semicolons": (";;", ";;"),
    "deg": ("°", "&#176;"),
    "cpp": ("C++", "C&#43;&#43;"),
}


@dataclass(frozen=True, slots=True)
class _Line:
    text: str
    source: str
    offset: int


def main_document(folder: Path) -> Path | None:
    """The AsciiDoc file a folder's book starts from; None for a folder with no AsciiDoc."""
    top = sorted(folder.glob("*.adoc"))
    for name in _MAIN_NAMES:
        if (folder / name).is_file():
            return folder / name
    if len(top) == 1:
        return top[0]
    if top or any(folder.rglob("*.adoc")):
        raise UserInputError(
            f"AsciiDoc guide folder has no main document ({', '.join(_MAIN_NAMES)}): {folder}"
        )
    return None


def asciidoc_units(main: Path, *, root: Path, name: str) -> list[RuleUnit]:
    """The units of the book that ``main`` starts, sources named relative to ``root``, ids
    prefixed with the guide's ``name`` (none for a one-file guide)."""
    lines = list(_expanded(main, root, offset=0, depth=0))
    return _Sections(lines, name).units()


def _expanded(path: Path, root: Path, *, offset: int, depth: int) -> Iterator[_Line]:
    """The file's lines with its includes spliced in, comments dropped."""
    if depth > MAX_INCLUDE_DEPTH:
        raise UserInputError(f"{path}: includes nest deeper than {MAX_INCLUDE_DEPTH} (a cycle?)")
    source = path.resolve().relative_to(root.resolve()).as_posix()
    in_comment = False
    for line in read_text(path, what="a guide").splitlines():
        if line.startswith("////") and not line.strip("/").strip():
            in_comment = not in_comment
            continue
        if in_comment or line.startswith("//"):
            continue
        if included := _INCLUDE.match(line):
            target = (path.parent / included[1]).resolve()
            if not target.is_relative_to(root.resolve()):
                # Units go to a model provider: a guide must not pull in files beside it.
                raise UserInputError(f"{path}: include outside the guide folder: {included[1]}")
            if not target.is_file():
                raise UserInputError(f"{path}: include target not found: {included[1]}")
            shift = _LEVEL_OFFSET.search(included[2])
            inner = _shifted(offset, shift[1]) if shift else offset
            yield from _expanded(target, root, offset=inner, depth=depth + 1)
            continue
        entry = _ATTRIBUTE_ENTRY.match(line)
        if entry and entry[1] == "leveloffset" and entry[2]:
            offset = _shifted(offset, entry[2].strip())
            continue
        yield _Line(line, source, offset)


def _shifted(offset: int, value: str) -> int:
    return offset + int(value) if value[0] in "+-" else int(value)


class _Sections:
    def __init__(self, lines: list[_Line], guide_name: str) -> None:
        self.lines = lines
        self.guide_name = guide_name
        self.attributes: dict[str, str] = {}
        self.ids: set[str] = set()

    def units(self) -> list[RuleUnit]:
        # (start line, level, id, title) per section, then each section's own text.
        sections: list[tuple[int, int, str, str]] = []
        pending_ids: list[str] = []
        delimiter = ""
        discrete = False
        for number, line in enumerate(self.lines):
            text = line.text
            if delimiter:
                delimiter = "" if text.strip() == delimiter else delimiter
                continue
            if block := _DELIMITER.match(text):
                delimiter, pending_ids = block[1], []
                continue
            if entry := _ATTRIBUTE_ENTRY.match(text):
                self._define(entry[1], entry[2] or "")
                continue
            if anchor := _ANCHOR.match(text):
                pending_ids.append(next(group for group in anchor.groups() if group))
                continue
            if _BLOCK_ATTRIBUTES.match(text):
                discrete = discrete or text.strip("[]").split(",")[0] in ("discrete", "float")
                continue
            heading = _HEADING.match(text)
            if heading and not discrete:
                level = len(heading[1]) - 1 + line.offset
                title = self.resolve(heading[2], html=True)
                section_id = pending_ids[0] if pending_ids else self._generated_id(title)
                self.ids.add(section_id)
                sections.append((number, level, section_id, _plain_title(self.resolve(heading[2]))))
            pending_ids, discrete = [], False
        return self._build(sections)

    def _build(self, sections: list[tuple[int, int, str, str]]) -> list[RuleUnit]:
        units: list[RuleUnit] = []
        open_sections: list[tuple[int, str]] = []
        for index, (start, level, anchor, title) in enumerate(sections):
            end = sections[index + 1][0] if index + 1 < len(sections) else len(self.lines)
            open_sections = [(depth, name) for depth, name in open_sections if depth < level]
            outer = tuple(name for _, name in open_sections)
            open_sections.append((level, title))
            text = self._text(start, end)
            if "\n" not in text:
                continue  # only a heading: its subsections carry the guidance
            is_leaf = index + 1 == len(sections) or sections[index + 1][1] <= level
            glossary = is_leaf and any("glossary" in name.lower() for name in outer)
            units.append(
                RuleUnit(
                    id=unit_id(self.guide_name, self.lines[start].source, anchor),
                    kind=UnitKind.GLOSSARY_ENTRY if glossary else UnitKind.GUIDE_SECTION,
                    title=title,
                    text=text,
                    source=self.lines[start].source,
                    anchor=anchor,
                    heading_path=outer,
                    level=level,
                    triggers=_glossary_triggers(title, text) if glossary else Triggers(),
                )
            )
        return units

    def _text(self, start: int, end: int) -> str:
        kept: list[str] = []
        delimiter = ""
        for line in self.lines[start:end]:
            text = line.text
            if delimiter:
                delimiter = "" if text.strip() == delimiter else delimiter
            elif block := _DELIMITER.match(text):
                delimiter = block[1]
            elif _ATTRIBUTE_ENTRY.match(text) or _ROLES.match(text) or _EMPTY_LABEL.match(text):
                continue
            elif not text.strip() and kept and not kept[-1].strip():
                continue  # blank lines run together, as Asciidoctor reads them
            else:
                text = _XREF.sub(r"\1", _INLINE_IMAGE.sub(r"\1", text))
            kept.append(self.resolve(text))
        while kept and (not kept[-1].strip() or _ANCHOR.match(kept[-1])):
            kept.pop()  # the next section's anchor and blank lines before it
        return "\n".join(kept).strip()

    def _define(self, name: str, value: str) -> None:
        if name.startswith("!") or name.endswith("!"):
            self.attributes.pop(name.strip("!"), None)
        else:
            self.attributes[name] = self.resolve(value.strip())

    def resolve(self, text: str, *, html: bool = False) -> str:
        def value(reference: re.Match[str]) -> str:
            name = reference[1]
            if name in self.attributes:
                return self.attributes[name]
            if name in _CHARACTERS:
                return _CHARACTERS[name][1 if html else 0]
            return reference[0]

        return _ATTRIBUTE_REFERENCE.sub(value, text)

    def _generated_id(self, title: str) -> str:
        """Asciidoctor's ``Section.generate_id`` with the default prefix and separator."""
        converted = _EMPHASIS.sub(r"\2", _ICON.sub("", title))
        base = "_" + _INVALID_ID_CHARACTERS.sub("", converted.lower())
        base = re.sub(r"[ .-]+", "_", base).rstrip("_") or "_"
        unique, count = base, 1
        while unique in self.ids:
            count += 1
            unique = f"{base}_{count}"
        return unique


def _plain_title(title: str) -> str:
    return " ".join(_EMPHASIS.sub(r"\2", _ICON.sub("", title)).split())


def _glossary_triggers(title: str, text: str) -> Triggers:
    """The entry's term and its incorrect forms, as a writer types them: without
    trademark marks, a part-of-speech note or editorial remarks."""
    terms = _title_terms(_without_marks(title))
    if listed := _INCORRECT_FORMS.search(text):
        terms += [_written_form(_plain_title(form)) for form in listed[1].split(",")]
    unique = dict.fromkeys(term for term in terms if term)
    return Triggers(terms=tuple(unique))


def _title_terms(title: str) -> list[str]:
    if (aside := _PARENTHESIS.match(title)) and _PART_OF_SPEECH.match(aside[2]):
        title = aside[1]
    if (aside := _PARENTHESIS.match(title)) and not any(c.islower() for c in aside[2]):
        return [aside[1], aside[2]]
    return [title]


def _written_form(form: str) -> str:
    form = _CONNECTIVE.sub("", _REMARK.sub("", _without_marks(form)))
    return "" if _NO_FORM.match(form) else form


def _without_marks(term: str) -> str:
    return " ".join(_TRADEMARK.sub("", term).split())
