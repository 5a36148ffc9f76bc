"""No prose in a Markdown file is left outside a block, however it is nested or mixed.

The property: every letter or digit of the source lies inside some block's span (apart from
the container and list markers themselves), and writing every block back unchanged
reproduces the file byte for byte. Link reference definitions are the one deliberate
exception (link targets, never prose), so the generator does not write them.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockpass.blocks import BlockKind, Document
from blockpass.documents import render_document
from blockpass.documents.markdown import read_markdown

_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n|$)")
# Blockquote and list markers at a line's start: markup, not prose.
_MARKERS = re.compile(r"[ \t]*(?:(?:>|[-+*](?=[ \t]|$)|\d{1,9}[.)](?=[ \t]|$))[ \t]*)*")

words = st.lists(
    st.sampled_from(
        ["Rust", "café", "it's", '"quoted"', "*emphasis*", "`code`", "x2", "[link](u)", "über"]
    ),
    min_size=1,
    max_size=5,
).map(" ".join)
paragraph = st.lists(words, min_size=1, max_size=3)
heading = st.builds(lambda level, text: ["#" * level + " " + text], st.integers(1, 6), words)
setext = st.builds(lambda text, mark: [text, mark], words, st.sampled_from(["===", "---"]))
fence = st.builds(
    lambda info, body: ["```" + info, *body, "```"], st.sampled_from(["", "rust"]), paragraph
)
indented_code = paragraph.map(lambda lines: ["", *("    " + line for line in lines), ""])
html = paragraph.map(lambda lines: ["<div>", *lines, "</div>", ""])
table = st.builds(lambda a, b: [f"| {a} | b |", "|---|---|", f"| c | {b} |"], words, words)
rule = st.sampled_from([["***"], ["- - -"], [""], ["", ""]])
leaf = st.one_of(paragraph, heading, setext, fence, indented_code, html, table, rule)


def _quote(lines: list[str]) -> list[str]:
    return [">" + (" " + line if line else "") for line in lines]


def _item(marker: str, lines: list[str]) -> list[str]:
    pad = " " * (len(marker) + 1)
    return [f"{marker} {lines[0]}", *(pad + line if line else "" for line in lines[1:])]


def _extend(children: st.SearchStrategy[list[str]]) -> st.SearchStrategy[list[str]]:
    many = st.lists(children, min_size=1, max_size=3).map(
        lambda parts: [line for part in parts for line in part]
    )
    item = st.builds(_item, st.sampled_from(["-", "*", "1.", "2)"]), many.filter(bool))
    return st.one_of(many.map(_quote), item, many)


blocks = st.recursive(leaf, _extend, max_leaves=12)


@st.composite
def deep(draw: st.DrawFn) -> list[str]:
    """A leaf inside up to 150 containers: past any parser nesting limit."""
    lines = draw(paragraph)
    for _ in range(draw(st.integers(0, 150))):
        lines = _quote(lines) if draw(st.booleans()) else _item(draw(st.sampled_from("-*")), lines)
    return lines


@st.composite
def markdown(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(st.one_of(blocks, deep()), min_size=1, max_size=6))
    lines = [line for part in parts for line in [*part, ""]]
    if draw(st.booleans()):
        lines = ["---", "title: x", "---", *lines]
    if not any(line.strip() for line in lines):
        lines.append("Text at last.")
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(lines).encode()


def uncovered_prose(document: Document) -> list[str]:
    covered = bytearray(len(document.raw))
    for block in document.blocks:
        assert block.span is not None
        covered[block.span.start : block.span.end] = b"\x01" * (block.span.end - block.span.start)
    missing = []
    offset = 0
    for line in _LINE.findall(document.raw.decode()):
        prose_from = offset + len(_MARKERS.match(line)[0].encode())  # type: ignore[index]
        position = offset
        for char in line:
            size = len(char.encode())
            if position >= prose_from and char.isalnum() and not covered[position]:
                missing.append(line)
                break
            position += size
        offset += len(line.encode())
    return missing


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(markdown())
def test_every_piece_of_prose_belongs_to_a_block_and_unedited_blocks_write_back_exactly(
    raw: bytes,
) -> None:
    document = read_markdown(raw, document_id="random.md")
    assert uncovered_prose(document) == []
    assert render_document(document, {}) == raw
    same = {block.id: block.text for block in document.blocks}
    assert render_document(document, same) == raw
    for block in document.blocks:
        assert block.span is not None
        assert raw[block.span.start : block.span.end].decode() == block.text


def test_prose_nested_past_the_parsers_limit_still_becomes_blocks() -> None:
    quote = "> " * 25 + "Quoted twenty-five deep.\n"
    items = "".join("  " * depth + f"- item {depth}\n" for depth in range(12))
    very_deep = ">" * 300 + " Three hundred deep.\n"
    document = read_markdown((quote + "\n" + items + "\n" + very_deep).encode(), document_id="d.md")
    texts = [block.text for block in document.blocks]
    assert texts[0] == "Quoted twenty-five deep."
    assert document.blocks[0].kind is BlockKind.BLOCKQUOTE
    assert texts[1:13] == [f"item {depth}" for depth in range(12)]
    assert texts[13] == "Three hundred deep."
    assert len(texts) == 14
    assert [block.index for block in document.blocks] == list(range(14))
