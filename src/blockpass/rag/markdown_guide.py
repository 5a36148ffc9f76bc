"""Markdown guides → units, one per heading section.

A section is its heading line and the text up to the next heading of any level (its own
text, not its subsections'), so each piece of guidance lives in exactly one unit. The text
before a page's first heading is a unit too, titled by the page's front matter ``title``
(Jekyll pages such as the 18F guide's carry their title only there). Headings inside code
fences are code, not sections: markdown-it finds the headings.

Anchors are the ids Jekyll's kramdown gives headings (``## When to use the passive voice``
→ ``when-to-use-the-passive-voice``, a repeat gets ``-1``, ``-2``), so a unit id names the
same place as a link into the published guide.
"""

from __future__ import annotations

import re
from pathlib import Path

from markdown_it import MarkdownIt

from blockpass.errors import UserInputError
from blockpass.rag.units import RuleUnit, UnitKind, unit_id
from blockpass.task import guide_pages, read_guide_page

__all__ = ["heading_anchor", "markdown_units"]

_PARSER = MarkdownIt("commonmark")
_NOT_IN_ANCHOR = re.compile(r"[^\w\- ]", re.UNICODE)
_LEADING_NON_LETTERS = re.compile(r"^[^a-zA-Z]+")


def markdown_units(path: Path) -> list[RuleUnit]:
    """The units of a Markdown file, or of a folder's pages in path order."""
    if path.is_dir():
        pages = [(page, page.relative_to(path).as_posix()) for page in guide_pages(path)]
        if not pages:
            raise UserInputError(f"guide folder has no Markdown or AsciiDoc pages: {path}")
        name = path.name
    else:
        pages, name = [(path, path.name)], ""
    return [unit for page, source in pages for unit in _page_units(page, name, source)]


def heading_anchor(title: str, taken: set[str]) -> str:
    """kramdown's automatic header id, unique among ``taken`` (which it joins)."""
    anchor = _NOT_IN_ANCHOR.sub("", title)
    anchor = _LEADING_NON_LETTERS.sub("", anchor).lower().replace(" ", "-") or "section"
    unique, count = anchor, 0
    while unique in taken:
        count += 1
        unique = f"{anchor}-{count}"
    taken.add(unique)
    return unique


def _page_units(path: Path, guide_name: str, source: str) -> list[RuleUnit]:
    page_title, body = read_guide_page(path)
    lines = body.split("\n")
    headings = _headings(body)
    page_title = page_title or next((title for _, level, title in headings if level == 1), "")
    page_title = page_title or path.stem
    units: list[RuleUnit] = []
    intro = "\n".join(lines[: headings[0][0] if headings else len(lines)]).strip()
    if intro:
        units.append(
            RuleUnit(
                id=unit_id(guide_name, source, ""),
                kind=UnitKind.GUIDE_SECTION,
                title=page_title,
                text=f"# {page_title}\n\n{intro}",
                source=source,
                anchor="",
            )
        )
    taken: set[str] = set()
    open_titles: list[tuple[int, str]] = []
    for index, (line, level, title) in enumerate(headings):
        end = headings[index + 1][0] if index + 1 < len(headings) else len(lines)
        anchor = heading_anchor(title, taken)
        open_titles = [(depth, name) for depth, name in open_titles if depth < level]
        outer = tuple(name for _, name in open_titles)
        open_titles.append((level, title))
        text = "\n".join(lines[line:end]).strip()
        if "\n" not in text:
            continue  # a heading with no text of its own: its subsections carry the guidance
        units.append(
            RuleUnit(
                id=unit_id(guide_name, source, anchor),
                kind=UnitKind.GUIDE_SECTION,
                title=title,
                text=text,
                source=source,
                anchor=anchor,
                heading_path=outer if outer[:1] == (page_title,) else (page_title, *outer),
                level=level,
            )
        )
    return units


def _headings(body: str) -> list[tuple[int, int, str]]:
    """Each heading's first line (0-based), level and text, in order."""
    tokens = _PARSER.parse(body)
    found: list[tuple[int, int, str]] = []
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.map is not None:
            found.append((token.map[0], int(token.tag[1]), tokens[index + 1].content.strip()))
    return found
