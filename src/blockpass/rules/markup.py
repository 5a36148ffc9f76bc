"""A document's blocks as the scoped texts Vale lints, each character tied to the source.

Per block kind (see ``documents/markdown.py`` for what a block's text holds):

======================  =====================================  =======================
block                   what is read (``inline.py``)           sections
======================  =====================================  =======================
heading                 its words                              text.heading.h1 … h6
paragraph, image_only   prose; images give their alt text      text  /  text.attr.alt
list_item               the item's paragraph                   text.list
blockquote              the quoted paragraph                   text.blockquote
table                   every cell                             text.table.header|cell
html                    text between tags, alt attributes      text  /  text.attr.alt
code, front_matter, …   nothing
======================  =====================================  =======================

All sections end with the file's extension (``md``), as Vale's do. ``raw`` (the whole
source) and ``summary`` (the prose joined by blank lines) are built only when a rule asks.
Vale skips everything inside ``<pre>``, ``<script>``, ``<figure>`` and the like; those tags
often open in one HTML block and close several blocks later, so that state runs across
blocks. Offsets are character offsets into the decoded document (no BOM), so a match maps
to a line and column of the source file whatever the block's container prefixes were.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Iterable

from markdown_it import MarkdownIt
from markdown_it.common.utils import normalizeReference

from blockpass.blocks import Block, BlockKind, Document
from blockpass.rules.ignores import NO_IGNORES, Ignores, masked
from blockpass.rules.inline import (
    INLINE_TAGS,
    SKIPPED_CLASSES,
    InlineText,
    Piece,
    align,
    alt_attribute,
    class_names,
    mask,
)
from blockpass.rules.scopes import ScopedText

__all__ = ["DocumentText", "read_texts"]

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_LINE_BREAK = re.compile(r"\r\n?|\n")
# Container prefixes (`>` and indentation) at the start of a continuation line.
_CONTINUATION = re.compile(r"(?:[ \t]*>)*[ \t]*")
_REFERENCE = re.compile(
    r"^[ \t]{0,3}(?:>[ \t]?)*[ \t]*\[((?:[^\]\\\n]|\\.)+)\]:[ \t]*<?([^\s>]*)", re.MULTILINE
)
_HTML_TOKEN = re.compile(r"<!--.*?(?:-->|\Z)|<[!?][^>]*>|<(/?)([A-Za-z][\w:-]*)[^>]*>", re.DOTALL)
_SKIP_TAGS = frozenset({"script", "style", "pre", "figure", "noscript", "iframe"})
_MASK_TAGS = frozenset({"code", "kbd", "tt"})
_PROSE = {
    BlockKind.PARAGRAPH: ("text",),
    BlockKind.IMAGE_ONLY: ("text",),
    BlockKind.LIST_ITEM: ("text", "list"),
    BlockKind.BLOCKQUOTE: ("text", "blockquote"),
}
_SUMMARY_KINDS = frozenset({BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.BLOCKQUOTE})


class DocumentText:
    """The decoded source of a document and its line starts, for offset → line:column;
    ``comments`` are its HTML comments that are markup, not text (offset just past each,
    its text), for Vale's comment controls (``comments.py``)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.line_starts = [0] + [m.end() for m in _LINE_BREAK.finditer(source)]
        self.comments: list[tuple[int, str]] = []

    def position(self, offset: int) -> tuple[int, int]:
        """1-based line and column (in characters) of a character offset."""
        line = bisect_right(self.line_starts, offset) - 1
        return line + 1, offset - self.line_starts[line] + 1


def _decode(document: Document) -> str:
    return document.raw.decode("utf-8", errors="replace").removeprefix("\ufeff")


def _strip_containers(text: str) -> tuple[str, list[int]]:
    """``text`` without container prefixes on its continuation lines, and for each of its
    characters the offset it had in ``text``."""
    parts: list[str] = []
    offsets: list[int] = []
    start = 0
    for line_end in [*(m for m in _LINE_BREAK.finditer(text)), None]:
        if start:
            start = _CONTINUATION.match(text, start).end()  # type: ignore[union-attr]
        end = len(text) if line_end is None else line_end.start()
        parts.append(text[start:end])
        offsets.extend(range(start, end))
        if line_end is not None:
            parts.append("\n")
            offsets.append(end)
            start = line_end.end()
    return "".join(parts), offsets


def _scoped(
    sections: frozenset[str], piece: Piece, base: int, index: list[int], block_id: str
) -> ScopedText:
    offsets = [base + index[o] for o in piece.offsets]
    offsets.append(offsets[-1] + 1 if offsets else base)
    return ScopedText(sections=sections, text=piece.text, offsets=offsets, block_id=block_id)


class _Reader:
    def __init__(
        self, document: Document, source: DocumentText, extension: str, ignores: Ignores
    ) -> None:
        self.document = document
        self.source = source
        self.ext = extension
        self.ignored_tags = ignores.scopes
        self.skipped_tags = ignores.skipped
        self.skipped_classes = SKIPPED_CLASSES | ignores.classes
        self.ignored_spans = ignores.spans(source.source)
        self.env = {"references": _references(source.source)}
        self.skipped_depth = 0
        # A block-level tag of an ignored class whose content is skipped, and how deeply
        # it is nested in itself; like the skipped tags, it may close several blocks later.
        self.skipped_by_class: tuple[str, int] | None = None
        self.block_id = ""
        self.texts: list[ScopedText] = []
        self.summary: list[ScopedText] = []

    @property
    def skipping(self) -> bool:
        return bool(self.skipped_depth) or self.skipped_by_class is not None

    def inline_text(self, text: str, start: int = 0) -> InlineText:
        return InlineText(
            text,
            start,
            ignored=self.ignored_tags,
            skipped=self.skipped_tags,
            classes=self.skipped_classes,
        )

    def sections(self, *names: str) -> frozenset[str]:
        return frozenset((*names, self.ext))

    def add(self, sections: frozenset[str], piece: Piece, base: int, index: list[int]) -> None:
        if piece.text.strip():
            scoped = _scoped(sections, piece, base, index, self.block_id)
            self.texts.append(masked(scoped, self.ignored_spans))

    def block(self, block: Block) -> None:
        span = block.span
        if span is None:
            return
        base = self.source.line_starts[span.line - 1] + span.column - 1
        self.block_id = block.id
        if block.kind == BlockKind.HTML:
            self.html(block.text, base)
        elif self.skipping:
            return
        elif block.kind in _PROSE:
            self.inline(block, base, self.sections(*_PROSE[block.kind]))
        elif block.kind == BlockKind.HEADING:
            self.inline(block, base, self.sections("text", "heading", self.heading_level(block)))
        elif block.kind == BlockKind.TABLE:
            self.table(block.text, base)

    def heading_level(self, block: Block) -> str:
        assert block.span is not None
        line_start = self.source.line_starts[block.span.line - 1]
        before = self.source.source[line_start : line_start + block.span.column - 1].rstrip()
        marks = len(before) - len(before.rstrip("#"))
        if marks:
            return f"h{marks}"
        # Setext: the underline is the line after the block's last line.
        end = line_start + block.span.column - 1 + len(block.text)
        nxt = self.source.source.find("\n", end)
        underline = self.source.source[nxt + 1 :].lstrip(" \t>")[:1] if nxt >= 0 else "="
        return "h1" if underline == "=" else "h2"

    def inline(self, block: Block, base: int, sections: frozenset[str]) -> None:
        stripped, index = _strip_containers(block.text)
        tokens = _PARSER.parseInline(stripped, self.env)
        walked = self.inline_text(stripped).walk(tokens[0].children or () if tokens else ())
        self.note_comments(walked, base, index)
        self.add(sections, walked.main, base, index)
        if block.kind in _SUMMARY_KINDS and walked.main.text.strip():
            self.summary.append(self.texts[-1])
        for alt in walked.alts:
            self.add(self.sections("text", "attr", "alt"), alt, base, index)

    def note_comments(self, walked: InlineText, base: int, index: list[int]) -> None:
        for end, comment in walked.comments:
            self.source.comments.append((base + index[end - 1] + 1, comment))

    def table(self, text: str, base: int) -> None:
        stripped, index = _strip_containers(text)
        row_starts = [0] + [m.end() for m in re.finditer("\n", stripped)]
        cursors: dict[int, int] = {}
        cell = "cell"
        for token in _PARSER.parse(stripped, self.env):
            if token.type in ("th_open", "td_open"):
                cell = "header" if token.type == "th_open" else "cell"
            if token.type != "inline" or token.map is None:
                continue
            row = token.map[0]
            start = cursors.get(row, row_starts[min(row, len(row_starts) - 1)])
            walker = self.inline_text(stripped, start).walk(token.children or ())
            self.note_comments(walker, base, index)
            cursors[row] = walker.cursor
            self.add(self.sections("text", "table", cell), walker.main, base, index)

    def html(self, text: str, base: int) -> None:
        index = list(range(len(text) + 1))
        piece, masking, mask_next, pos = Piece(), 0, False, 0
        for token in [*_HTML_TOKEN.finditer(text), None]:
            end = len(text) if token is None else token.start()
            if pos < end and not self.skipping:
                raw = text[pos:end]
                content = html.unescape(raw)
                offsets, _ = align(text, pos, content)
                piece.add(mask(content) if masking or mask_next else content, offsets)
            if token is None:
                break
            pos = token.end()
            if token.group().startswith("<!--") and not self.skipping:
                comment = token.group()[4:].removesuffix("-->")
                self.source.comments.append((base + pos, comment))
            name = (token.group(2) or "").lower()
            step = -1 if token.group(1) else 1
            classes = class_names(token.group()) if step > 0 else frozenset()
            # Vale masks only the text right after an inline tag of an ignored class.
            mask_next = bool(classes & self.skipped_classes) and name in INLINE_TAGS
            if self.skipped_by_class is not None:
                self.skip_by_class(name, step)
            elif name and classes & self.skipped_classes and name not in INLINE_TAGS:
                self.skipped_by_class = (name, 1)
            elif name in _SKIP_TAGS or name in self.skipped_tags:
                self.skipped_depth = max(self.skipped_depth + step, 0)
            elif name in _MASK_TAGS or name in self.ignored_tags:
                masking = max(masking + step, 0)
            if name == "img" and (alt := alt_attribute(token.group())) is not None:
                value = html.unescape(alt[0])
                alt_piece = Piece()
                alt_piece.add(value, align(text, token.start() + alt[1], value)[0])
                self.add(self.sections("text", "attr", "alt"), alt_piece, base, index)
            if name and name not in INLINE_TAGS:
                self.flush(piece, base, index)
                piece = Piece()
        self.flush(piece, base, index)

    def skip_by_class(self, name: str, step: int) -> None:
        assert self.skipped_by_class is not None
        skipped, depth = self.skipped_by_class
        if name == skipped:
            depth += step
            self.skipped_by_class = (skipped, depth) if depth else None

    def flush(self, piece: Piece, base: int, index: list[int]) -> None:
        text = piece.text
        lead = len(text) - len(text.lstrip())
        trail = len(text.rstrip())
        if trail > lead:
            trimmed = Piece()
            trimmed.add(text[lead:trail], piece.offsets[lead:trail])
            self.add(self.sections("text"), trimmed, base, index)
            self.summary.append(self.texts[-1])


def _references(source: str) -> dict[str, dict[str, str]]:
    """Link reference definitions, so that ``[text][label]`` reads as its text only."""
    return {
        normalizeReference(m.group(1)): {"href": m.group(2), "title": ""}
        for m in _REFERENCE.finditer(source)
    }


def _joined(texts: Iterable[ScopedText], sections: frozenset[str]) -> ScopedText:
    parts: list[str] = []
    offsets: list[int] = []
    for text in texts:
        if parts:
            parts.append("\n\n")
            offsets.extend((offsets[-1], offsets[-1]))
        parts.append(text.text)
        offsets.extend(text.offsets[:-1])
    offsets.append(offsets[-1] + 1 if offsets else 0)
    return ScopedText(sections=sections, text="".join(parts), offsets=offsets)


def _extension(document: Document) -> str:
    if document.path is not None and document.path.suffix:
        return document.path.suffix.lower().lstrip(".")
    return {"markdown": "md", "text": "txt"}.get(document.format, document.format)


def read_texts(
    document: Document, *, sized: frozenset[str] = frozenset(), ignores: Ignores = NO_IGNORES
) -> tuple[DocumentText, list[ScopedText]]:
    """The scoped texts of a document in reading order; ``sized`` names the document-wide
    scopes (``raw``, ``summary``) some rule reads, which are then added at the end;
    ``ignores`` masks what the config says no rule reads (``ignores.py``)."""
    ext = _extension(document)
    source = DocumentText(_decode(document))
    reader = _Reader(document, source, ext, ignores)
    for block in document.blocks:
        if document.format == "markdown":
            reader.block(block)
        elif block.span is not None and block.text.strip():
            base = source.line_starts[block.span.line - 1] + block.span.column - 1
            offsets = [*range(base, base + len(block.text) + 1)]
            sections = reader.sections("text")
            text = ScopedText(sections, block.text, offsets, block_id=block.id)
            reader.texts.append(masked(text, reader.ignored_spans))
            reader.summary.append(reader.texts[-1])
    texts = reader.texts
    if "summary" in sized and reader.summary:
        texts.append(_joined(reader.summary, frozenset({"summary", ext})))
    if "raw" in sized and source.source:
        offsets = [*range(len(source.source) + 1)]
        texts.append(ScopedText(frozenset({"raw", ext}), source.source, offsets))
    return source, texts
