"""The text Vale reads from one Markdown inline run, with where each character came from.

Vale renders Markdown to HTML and reads the text between the tags. From the inline tokens
of markdown-it that means:

- emphasis, strikethrough and link markers disappear; link text stays, link targets and
  reference labels go (a link whose text is its own target, like ``<https://x.y>`` or a
  bare ``https://x.y``, is masked: Vale blanks text equal to its ``href``);
- code spans, and the text of ``<code>``, ``<kbd>`` and ``<tt>``, become ``*`` of the same
  length: rules do not match inside them, but a word on either side is not joined to the
  next one (write-good's ``the `the` the`` is not a repetition);
- a line break is ``\\n``; escapes and entities are read as the characters they stand for;
- an image's alt text is a text of its own (Vale's ``text.attr.alt`` scope), not part of
  the sentence around it.

markdown-it's inline tokens carry no positions, so each token's text is found in the
source from a cursor that only moves forward, the way Vale's walker places text: exactly
where the source holds it verbatim, character by character where escapes or entities make
it differ.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from markdown_it.token import Token

__all__ = [
    "INLINE_TAGS",
    "SKIPPED_CLASSES",
    "InlineText",
    "Piece",
    "align",
    "alt_attribute",
    "class_names",
    "mask",
]

# What may lie between two tokens' texts in the source without being text itself.
_MARKUP = frozenset(" \t\r\n*_[]<>`~|\\!")
_BARE_URL = re.compile(r"https?://[^\s<]*[^\s<?!.,:;*_~)'\"]")
_MASKED_TAGS = frozenset({"code", "kbd", "tt"})
# markdown-it's emphasis tokens (``strong_open``, ``strong_close``, ...) and the HTML tags
# Vale sees for them.
_EMPHASIS = {"strong": "strong", "em": "em", "s": "del"}
_DROPPED_TAGS = frozenset({"script", "style", "pre", "noscript", "iframe"})
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
_ALT = re.compile(r"""\balt\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_CLASS = re.compile(r"""\bclass\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
# Vale's inline tags: their text joins the text around them instead of ending it.
_INLINE_TAG_NAMES = (
    "b big i small abbr acronym cite dfn em kbd strong a br img span sub sup code tt del"
)
INLINE_TAGS = frozenset(_INLINE_TAG_NAMES.split())
# Classes Vale never reads (``problematic`` and ``pre`` come from rst2html), whatever
# ``IgnoredClasses`` adds to them.
SKIPPED_CLASSES = frozenset({"problematic", "pre", "code"})


def alt_attribute(tag: str) -> tuple[str, int] | None:
    """The ``alt`` value of an HTML tag and where it starts in the tag, if it has one."""
    found = _ALT.search(tag)
    if found is None:
        return None
    group = next(g for g in (1, 2, 3) if found.group(g) is not None)
    return found.group(group), found.start(group)


def class_names(tag: str) -> frozenset[str]:
    """The classes an HTML start tag names in its ``class`` attribute."""
    found = _CLASS.search(tag)
    if found is None:
        return frozenset()
    return frozenset(next(g for g in found.groups() if g is not None).split())


def mask(text: str) -> str:
    """Vale's ``core.Substitute``: every character but a newline becomes ``*``."""
    return "".join("\n" if c == "\n" else "*" for c in text)


def align(src: str, cursor: int, content: str) -> tuple[list[int], int]:
    """Offsets in ``src`` of each character of ``content``, read from ``cursor`` on."""
    n = len(content)
    if src.startswith(content, cursor):
        return list(range(cursor, cursor + n)), cursor + n
    found = src.find(content, cursor, cursor + n + 80)
    if found >= 0 and all(c in _MARKUP for c in src[cursor:found]):
        return list(range(found, found + n)), found + n
    offsets: list[int] = []
    pos, size = cursor, len(src)
    last = max(size - 1, 0)
    for char in content:
        here = src[pos] if pos < size else ""
        # A code span reads a line break as a space; escapes and entities are longer in
        # the source than in the text: step over them, but never far.
        if here == char or (char.isspace() and here.isspace() and here):
            offsets.append(pos)
            pos += 1
            continue
        hit = src.find(char, pos, pos + 12)
        if hit < 0:
            offsets.append(min(pos, last))  # spelt differently in the source: stay here
            continue
        offsets.append(hit)
        pos = hit + 1
    return offsets, pos


@dataclass(slots=True)
class Piece:
    """Text being built, with one source offset per character."""

    chars: list[str] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)

    def add(self, text: str, offsets: list[int]) -> None:
        self.chars.append(text)
        self.offsets.extend(offsets)

    @property
    def text(self) -> str:
        return "".join(self.chars)


def _skip_link_tail(src: str, pos: int) -> int:
    """Past ``](target "title")``, ``][label]`` or ``]``, from the closing bracket on."""
    close = src.find("]", pos)
    if close < 0:
        return pos
    pos = close + 1
    if src.startswith("[", pos):
        end = src.find("]", pos)
        return end + 1 if end >= 0 else pos
    if not src.startswith("(", pos):
        return pos
    depth, i, quote = 0, pos, ""
    while i < len(src):
        c = src[i]
        if quote:
            quote = "" if c == quote else quote
        elif c == "\\":
            i += 1
        elif c in "\"'" and src[i - 1] in " \t\n":
            quote = c
        elif c == "<":
            end = src.find(">", i)
            i = end if end >= 0 else i
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return pos


class InlineText:
    """Walks inline tokens over ``src`` and collects the text Vale would read."""

    def __init__(
        self,
        src: str,
        cursor: int = 0,
        *,
        ignored: frozenset[str] = frozenset(),
        skipped: frozenset[str] = frozenset(),
        classes: frozenset[str] = SKIPPED_CLASSES,
    ) -> None:
        """``ignored``: tags whose text is masked besides code (Vale's ``IgnoredScopes``);
        ``skipped``: tags whose text is dropped besides ``<script>``, ``<pre>``, ...
        (``SkippedScopes``); ``classes``: an inline tag with one of them masks the text
        right after it, any other tag drops its content (``IgnoredClasses``)."""
        self.src = src
        self.cursor = cursor
        self._masked_tags = _MASKED_TAGS | ignored
        self._dropped_tags = _DROPPED_TAGS | skipped
        self.main = Piece()
        self.alts: list[Piece] = []
        self._hrefs: list[str] = []
        # (offset in ``src`` just past an HTML comment, the comment's text)
        self.comments: list[tuple[int, str]] = []
        self._classes = classes
        self._masked = 0
        self._dropped = 0
        # Vale masks only the text token that follows an inline tag of an ignored class.
        self._mask_next = False
        # The tag of an ignored class whose content is dropped, and how deep it is nested.
        self._dropped_by_class: tuple[str, int] | None = None

    def _emit(self, content: str, *, masked: bool = False) -> None:
        offsets, self.cursor = align(self.src, self.cursor, content)
        if self._dropped or self._dropped_by_class:
            return
        if (
            masked
            or self._masked
            or self._mask_next
            or (self._hrefs and content == self._hrefs[-1])
        ):
            content = mask(content)
        elif "://" in content:
            content = _BARE_URL.sub(lambda m: mask(m.group()), content)
        self.main.add(content, offsets)

    def _alt(self, alt: str, start: int) -> None:
        if alt.strip():
            offsets, _ = align(self.src, start, alt)
            piece = Piece()
            piece.add(alt, offsets)
            self.alts.append(piece)

    def walk(self, tokens: Iterable[Token]) -> InlineText:
        for token in tokens:
            kind = token.type
            if kind not in ("text", "softbreak", "hardbreak"):
                self._mask_next = False
            if kind == "text":
                self._emit(token.content)
            elif kind == "code_inline":
                self._emit(token.content, masked=True)
            elif kind in ("softbreak", "hardbreak"):
                self._emit("\n")
            elif kind == "link_open":
                self._hrefs.append(str(token.attrs.get("href", "")))
            elif kind == "link_close":
                if self._hrefs:
                    self._hrefs.pop()
                if token.markup == "autolink":
                    end = self.src.find(">", self.cursor)
                    self.cursor = end + 1 if end >= 0 else self.cursor
                else:
                    self.cursor = _skip_link_tail(self.src, self.cursor)
            elif kind == "image":
                self._image(token)
            elif kind == "html_inline":
                self._html(token.content)
            elif _EMPHASIS.get(kind.rpartition("_")[0], "") in self._masked_tags:
                step = 1 if kind.endswith("_open") else -1
                self._masked = max(self._masked + step, 0)
        return self

    def _image(self, token: Token) -> None:
        start = self.src.find("![", self.cursor)
        start = self.cursor if start < 0 else start + 2
        alt = "".join(c.content for c in token.children or () if c.type in ("text", "code_inline"))
        self._alt(alt, start)
        self.cursor = _skip_link_tail(self.src, start + len(token.content))

    def _html(self, html: str) -> None:
        start = self.src.find(html, self.cursor)
        start = self.cursor if start < 0 else start
        self.cursor = start + len(html)
        tag = _TAG.match(html)
        if tag is None:
            if html.startswith("<!--"):
                self.comments.append((self.cursor, html[4:].removesuffix("-->")))
            return  # a comment or a declaration: never read
        closing, name = tag.group(1) == "/", tag.group(2).lower()
        step = -1 if closing else 1
        self._mask_next = False
        if self._dropped_by_class is not None:
            dropped, depth = self._dropped_by_class
            if name == dropped:
                depth += step
                self._dropped_by_class = (dropped, depth) if depth else None
            return
        if not closing and class_names(html) & self._classes:
            if name in INLINE_TAGS:
                self._mask_next = True
            else:
                self._dropped_by_class = (name, 1)
            return
        if name in self._masked_tags:
            self._masked = max(self._masked + step, 0)
        elif name in self._dropped_tags:
            self._dropped = max(self._dropped + step, 0)
        elif name == "img" and (alt := alt_attribute(html)) is not None:
            self._alt(alt[0], start + alt[1])
