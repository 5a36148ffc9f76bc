"""Markdown → blocks, with byte spans exact enough to splice edits back in.

What a block's text is, per kind (the text is always one contiguous slice of the source):

- heading: the heading's words only. ATX `## Title ##` gives `Title` (markers and the
  closing sequence stay outside the span); a setext heading gives its text lines without
  the `===`/`---` underline. A heading with no words is kind `empty`.
- paragraph / list_item / blockquote: a paragraph, from its first non-blank character to
  its last. Its kind is its innermost container: a paragraph directly in a list item is
  `list_item` (so the `- ` or `1. ` marker is never in the text and edits cannot break
  it), one directly in a blockquote is `blockquote`, otherwise `paragraph`. A list item
  with several paragraphs gives one block per paragraph. A nested list is separate
  blocks: the parent item's paragraph ends where the nested list starts, so no text is
  ever in two blocks. Headings, code, tables inside containers keep their own kind.
- paragraphs with no prose, wherever they are: only images (or links wrapping only
  images) → `image_only`; only inline HTML (`<a id="x"></a>`) → `html`; only code spans
  (tldr's command lines) → `code`. A text pass has nothing to edit in them.
- code (fenced and indented), table, html, thematic_break: the whole construct from its
  first non-blank character, fences and info string included.
- front_matter: a `---` line at the very start, through the next `---` or `...` line.

Multi-line blocks inside containers keep the container prefixes of their continuation
lines (`> `, indentation) because a span must be one contiguous slice. Link reference
definitions, blank lines and lines of bare container markers belong to no block and are
always left as they are; any other line that no construct claims (text nested deeper than
the parser follows) becomes a paragraph, so no prose is ever left unchecked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock, reference
from markdown_it.token import Token

from blockpass.blocks import Block, BlockKind, Document
from blockpass.documents._source import SourceText, decode

FORMAT = "markdown"
_ENV_KEY = "blockpass_block_starts"
_REFERENCES_KEY = "blockpass_references"
# Container levels the parser follows (commonmark's preset stops at 20, which drops quotes 20
# deep and lists 10 deep). The parser recurses a few Python frames per level, so this stays
# well inside the interpreter's recursion limit; text deeper still becomes paragraphs
# (`_unparsed`).
_MAX_NESTING = 100
# Blockquote markers, list markers and the spaces between them, at a line's start.
_MARKER_PREFIX = re.compile(r"[ \t]*(?:(?:>|[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$))[ \t]*)*")
_MARKERS_ONLY = re.compile(_MARKER_PREFIX.pattern + "$")

# Token types that are one block each, with their kind.
_LEAF_KINDS = {
    "fence": BlockKind.CODE,
    "code_block": BlockKind.CODE,
    "table_open": BlockKind.TABLE,
    "html_block": BlockKind.HTML,
    "hr": BlockKind.THEMATIC_BREAK,
}
_CONTAINERS = {
    "blockquote_open": BlockKind.BLOCKQUOTE,
    "list_item_open": BlockKind.LIST_ITEM,
}
_CONTAINER_CLOSE = {"blockquote_close", "list_item_close"}
# A paragraph made only of one of these inline tokens takes the matching kind.
_INLINE_ONLY_KINDS = {
    "image": BlockKind.IMAGE_ONLY,
    "html_inline": BlockKind.HTML,
    "code_inline": BlockKind.CODE,
}
# Links around images (badges) and line breaks do not make a paragraph prose.
_NEUTRAL_INLINE = {"link_open", "link_close", "softbreak", "hardbreak"}


def _record_block_start(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """Block rule that never matches; it notes where the next token's content begins.

    markdown-it records only line ranges (`Token.map`). Inside blockquotes and list items
    the text starts after `>` or the list marker, and only the block state knows where.
    This rule runs first at every block start, after containers have moved the line's
    start past their markers, so the last note for (line, token count) belongs to the
    token that the real rule is about to push.
    """
    offset = state.bMarks[start_line] + state.tShift[start_line]
    column = offset - (state.src.rfind("\n", 0, offset) + 1)
    state.env[_ENV_KEY][(start_line, len(state.tokens))] = column
    return False


def _record_reference(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
    """The reference rule, noting the lines of each link reference definition it reads.

    Definitions make no token, yet their lines are accounted for: they are link targets, not
    prose, and stay out of every block.
    """
    if not reference(state, start_line, end_line, silent):
        return False
    if not silent:
        state.env[_REFERENCES_KEY].append((start_line, state.line))
    return True


def _make_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"maxNesting": _MAX_NESTING}).enable("table")
    # Inline parsing is only needed for a few paragraphs (see `_content_kind`), which
    # call the inline parser directly; skipping it for the rest halves reading time.
    md.core.ruler.disable(["inline", "text_join"])
    md.block.ruler.before("table", "blockpass_block_start", _record_block_start)
    md.block.ruler.at("reference", _record_reference)
    return md


# Building the parser compiles its rule chains; one shared instance is safe because all
# per-document state lives in the `env` passed to each parse.
_PARSER = _make_parser()


def read_markdown(raw: bytes, *, document_id: str, path: Path | None = None) -> Document:
    source = SourceText(raw, decode(raw, name=str(path or document_id)))
    lines = list(source.lines)
    pieces: list[tuple[BlockKind, tuple[int, int], tuple[int, int]]] = []
    # Lines some block (or a link reference definition) accounts for.
    covered = [False] * len(lines)

    def add(kind: BlockKind, first: tuple[int, int], last: tuple[int, int], end_line: int) -> None:
        pieces.append((kind, first, last))
        covered[first[0] : end_line] = [True] * (end_line - first[0])

    closing_line = front_matter_end(lines)
    if closing_line is not None:
        last = source.trimmed_end(0, closing_line, 0)
        add(BlockKind.FRONT_MATTER, (0, 0), last, closing_line + 1)
        # Blank the front matter for the parser so line numbers stay aligned with ours.
        lines[: closing_line + 1] = [""] * (closing_line + 1)

    env: dict[str, Any] = {_ENV_KEY: {}, _REFERENCES_KEY: []}
    tokens = _PARSER.parse("\n".join(lines), env)
    starts: dict[tuple[int, int], int] = env[_ENV_KEY]
    for first_line, end_line in env[_REFERENCES_KEY]:
        covered[first_line:end_line] = [True] * (end_line - first_line)
    containers: list[BlockKind] = []
    for index, token in enumerate(tokens):
        kind = _CONTAINERS.get(token.type)
        if kind is not None:
            containers.append(kind)
            continue
        if token.type in _CONTAINER_CLOSE:
            containers.pop()
            continue
        if token.map is None or not (
            token.type in _LEAF_KINDS or token.type in ("paragraph_open", "heading_open")
        ):
            continue
        first_line, end_line = token.map
        start = (first_line, starts[(first_line, index)])
        if token.type == "paragraph_open":
            kind = _content_kind(tokens[index + 1].content) or (
                containers[-1] if containers else BlockKind.PARAGRAPH
            )
            add(kind, start, source.trimmed_end(first_line, end_line - 1, start[1]), end_line)
        elif token.type == "heading_open":
            first, last = _heading_bounds(source, token, tokens[index + 1], start)
            add(BlockKind.HEADING, first, last, end_line)
        elif token.type in _LEAF_KINDS:
            last = source.trimmed_end(first_line, end_line - 1, start[1])
            add(_LEAF_KINDS[token.type], start, last, end_line)
    pieces.extend(_unparsed(source, covered))
    pieces.sort(key=lambda piece: piece[1])
    blocks: list[Block] = []
    for kind, first, last in pieces:
        span = source.span(first, last)
        text = source.text(span)
        blocks.append(
            Block.create(
                document_id=document_id,
                index=len(blocks),
                kind=kind if text.strip() else BlockKind.EMPTY,
                text=text,
                span=span,
            )
        )
    return Document(id=document_id, path=path, format=FORMAT, raw=raw, blocks=tuple(blocks))


def _unparsed(
    source: SourceText, covered: list[bool]
) -> list[tuple[BlockKind, tuple[int, int], tuple[int, int]]]:
    """Paragraph blocks for text the parser gave no block: nothing may go unchecked.

    Past `_MAX_NESTING` levels of containers the parser stops looking and returns nothing
    for the rest of the container; each run of such lines that holds more than container
    markers becomes a paragraph, starting after the first line's markers.
    """
    found = []
    first: int | None = None
    for number, line in enumerate([*source.lines, ""]):
        if number < len(covered) and not covered[number] and not _MARKERS_ONLY.match(line):
            if first is None:
                first = number
            continue
        if first is not None:
            prefix = _MARKER_PREFIX.match(source.lines[first])
            column = prefix.end() if prefix else 0
            end = source.trimmed_end(first, number - 1, column)
            found.append((BlockKind.PARAGRAPH, (first, column), end))
            first = None
    return found


def front_matter_end(lines: list[str]) -> int | None:
    """Index of the line closing YAML front matter, or None when there is none."""
    if len(lines) < 2 or lines[0].rstrip(" \t") != "---":
        return None
    for number in range(1, len(lines)):
        if lines[number].rstrip(" \t") in ("---", "..."):
            return number
    return None


def split_front_matter(text: str) -> tuple[str, str]:
    """YAML front matter (without its ``---`` lines) and the body after it; a text without
    front matter is all body. Line breaks in the body are kept as they are."""
    lines = text.split("\n")
    closing_line = front_matter_end([line.rstrip("\r") for line in lines])
    if closing_line is None:
        return "", text
    return "\n".join(lines[1:closing_line]), "\n".join(lines[closing_line + 1 :])


def _heading_bounds(
    source: SourceText, token: Token, inline: Token, start: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    first_line, end_line = token.map or (start[0], start[0] + 1)
    if token.markup in ("=", "-"):
        # Setext: the text lines end just above the underline.
        return start, source.trimmed_end(first_line, end_line - 2, start[1])
    line = source.lines[first_line]
    after_marks = start[1] + len(token.markup)
    content = inline.content
    column = line.find(content, after_marks) if content else -1
    if column == -1:
        # No words (`#` alone): an empty span right after the marks keeps the
        # heading's bytes intact; the block becomes kind `empty`.
        return (first_line, after_marks), (first_line, after_marks)
    return (first_line, column), (first_line, column + len(content))


def _content_kind(content: str) -> BlockKind | None:
    """Kind of a paragraph that holds no prose: only images, only inline HTML, only code.

    Such paragraphs (badges, `<a id="..."></a>` anchors, tldr's command lines) give a
    text pass nothing to edit; the kind lets later stages skip them without a model.
    Inline parsing is the costliest part of reading, so it runs only for paragraphs whose
    first character could start one of these.
    """
    if not content or content[0] not in "![<`":
        return None
    children: list[Token] = []
    _PARSER.inline.parse(content, _PARSER, {}, children)
    found: set[str] = set()
    for child in children:
        if child.type == "text" and not child.content.strip():
            continue
        if child.type in _NEUTRAL_INLINE:
            continue
        if child.type not in _INLINE_ONLY_KINDS:
            return None
        found.add(child.type)
    if len(found) != 1:
        return None
    return _INLINE_ONLY_KINDS[found.pop()]
