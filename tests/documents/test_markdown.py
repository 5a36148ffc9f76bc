from __future__ import annotations

from collections import Counter

import pytest

from blockpass.blocks import BlockKind, Document
from blockpass.documents.markdown import read_markdown
from tests.documents.samples import SAMPLE_MARKDOWN, corpus_documents


def _read(markdown: str | bytes) -> Document:
    raw = markdown.encode() if isinstance(markdown, str) else markdown
    return read_markdown(raw, document_id="doc.md")


def _kinds_and_texts(markdown: str) -> list[tuple[BlockKind, str]]:
    return [(block.kind, block.text) for block in _read(markdown).blocks]


def test_a_hand_written_sample_yields_every_block_kind() -> None:
    found = {block.kind for block in _read(SAMPLE_MARKDOWN).blocks}
    assert found == set(BlockKind)


def test_the_sample_is_cut_into_the_documented_blocks() -> None:
    assert _kinds_and_texts(SAMPLE_MARKDOWN) == [
        (BlockKind.FRONT_MATTER, "---\ntitle: Sample\ntags: [a, b]\n---"),
        (BlockKind.HEADING, "Getting started"),
        (
            BlockKind.PARAGRAPH,
            "A first paragraph with *emphasis*\nthat continues on a second line.",
        ),
        (BlockKind.HEADING, "Setext heading\nover two lines"),
        (BlockKind.LIST_ITEM, "first item with `code`"),
        (BlockKind.LIST_ITEM, "nested item"),
        (BlockKind.LIST_ITEM, "another nested item"),
        (BlockKind.LIST_ITEM, "with a second paragraph"),
        (BlockKind.LIST_ITEM, "last item\nlazily continued"),
        (BlockKind.LIST_ITEM, "numbered item"),
        (BlockKind.BLOCKQUOTE, "A quoted paragraph\n> on two lines."),
        (BlockKind.LIST_ITEM, "a list in a quote"),
        (BlockKind.CODE, "```text\n> fenced in a quote\n> ```"),
        (BlockKind.CODE, "```rust\nfn main() {}\n```"),
        (BlockKind.CODE, "indented code"),
        (BlockKind.TABLE, "| Column | Other |\n| ------ | ----- |\n| 1      | 2     |"),
        (BlockKind.HTML, '<div class="note">\nraw html\n</div>'),
        (BlockKind.IMAGE_ONLY, "![diagram](diagram.png)"),
        (BlockKind.HTML, '<a id="anchor"></a>'),
        (BlockKind.THEMATIC_BREAK, "***"),
        (BlockKind.EMPTY, ""),
        (BlockKind.PARAGRAPH, "{{#include ../listings/ch01/main.rs}}"),
        (BlockKind.PARAGRAPH, "Last paragraph without a trailing newline."),
    ]


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("# Title\n", "Title"),
        ("### Title with closing marks ###\n", "Title with closing marks"),
        ("  ## Indented   \n", "Indented"),
        ("# Title with # inside\n", "Title with # inside"),
        ("> ## Quoted heading\n", "Quoted heading"),
        ("- # Heading in a list item\n", "Heading in a list item"),
    ],
)
def test_a_heading_text_is_its_words_without_marks(markdown: str, expected: str) -> None:
    [(kind, text)] = _kinds_and_texts(markdown)
    assert (kind, text) == (BlockKind.HEADING, expected)


def test_list_item_text_starts_after_the_marker_so_edits_cannot_break_it() -> None:
    texts = [text for _, text in _kinds_and_texts("- one\n* two\n+ three\n10. ten\n3) three\n")]
    assert texts == ["one", "two", "three", "ten", "three"]


def test_nested_lists_never_put_the_same_text_in_two_blocks() -> None:
    document = _read("- parent\n  - child\n    - grandchild\n  more child\n- sibling\n")
    assert [block.text for block in document.blocks] == [
        "parent",
        "child",
        "grandchild\n  more child",
        "sibling",
    ]
    assert all(block.kind is BlockKind.LIST_ITEM for block in document.blocks)


def test_each_paragraph_of_a_loose_list_item_is_its_own_block() -> None:
    texts = [text for _, text in _kinds_and_texts("1. first\n\n   second\n\n2. third\n")]
    assert texts == ["first", "second", "third"]


def test_a_paragraph_takes_the_kind_of_its_innermost_container() -> None:
    assert _kinds_and_texts("> quoted\n>\n> - item in quote\n\n- item\n\n  > quote in item\n") == [
        (BlockKind.BLOCKQUOTE, "quoted"),
        (BlockKind.LIST_ITEM, "item in quote"),
        (BlockKind.LIST_ITEM, "item"),
        (BlockKind.BLOCKQUOTE, "quote in item"),
    ]


def test_paragraphs_with_no_prose_get_a_skippable_kind() -> None:
    assert _kinds_and_texts(
        "[![build](badge.svg)](ci)\n\n`tar -xf {{archive}}`\n\n<a id=x></a>\n\n`x` and words\n"
    ) == [
        (BlockKind.IMAGE_ONLY, "[![build](badge.svg)](ci)"),
        (BlockKind.CODE, "`tar -xf {{archive}}`"),
        (BlockKind.HTML, "<a id=x></a>"),
        (BlockKind.PARAGRAPH, "`x` and words"),
    ]


def test_a_leading_rule_without_a_closing_line_is_not_front_matter() -> None:
    assert _kinds_and_texts("---\n\ntext\n") == [
        (BlockKind.THEMATIC_BREAK, "---"),
        (BlockKind.PARAGRAPH, "text"),
    ]


def test_crlf_line_endings_stay_inside_multi_line_block_text() -> None:
    document = _read(b"# T\r\n\r\none\r\ntwo  \r\n\r\n- item\r\n")
    assert [block.text for block in document.blocks] == ["T", "one\r\ntwo", "item"]


def test_lone_carriage_returns_count_as_line_breaks_like_commonmark_says() -> None:
    document = _read(b"# T\r\rpara\rgraph\r")
    assert [block.text for block in document.blocks] == ["T", "para\rgraph"]
    assert document.blocks[1].span is not None
    assert document.blocks[1].span.line == 3


def test_a_byte_order_mark_is_outside_every_block() -> None:
    document = _read(b"\xef\xbb\xbf# Title\n")
    [block] = document.blocks
    assert block.text == "Title"
    assert block.span is not None
    assert block.span.start == len(b"\xef\xbb\xbf# ")


def test_spans_give_line_and_character_column_of_the_block_start() -> None:
    document = _read("# Ünïcode\n\n> - café au lait\n")
    spans = [block.span for block in document.blocks]
    assert [(span.line, span.column) for span in spans if span] == [(1, 3), (3, 5)]
    for span, block in zip(spans, document.blocks, strict=True):
        assert span is not None
        assert document.raw[span.start : span.end].decode() == block.text


def test_ids_are_stable_across_two_reads() -> None:
    first = _read(SAMPLE_MARKDOWN)
    second = _read(SAMPLE_MARKDOWN)
    assert first == second
    assert [block.id for block in first.blocks] == [
        f"doc.md#{index}" for index in range(len(first.blocks))
    ]


def test_spans_slice_exactly_the_block_text_out_of_raw_for_every_corpus_block() -> None:
    for document in corpus_documents():
        previous_end = 0
        for block in document.blocks:
            assert block.span is not None
            assert document.raw[block.span.start : block.span.end].decode() == block.text
            # In order and disjoint: no byte is ever part of two blocks.
            assert block.span.start >= previous_end, block.id
            previous_end = block.span.end


def test_corpus_blocks_have_the_expected_shapes() -> None:
    kinds: Counter[BlockKind] = Counter()
    for document in corpus_documents():
        kinds.update(block.kind for block in document.blocks)
        for block in document.blocks:
            if block.kind in (BlockKind.HEADING, BlockKind.LIST_ITEM):
                assert not block.text.startswith(("#", "- ", "* ")), block.id
            assert block.text == block.text.strip() or block.kind is BlockKind.CODE, block.id
    for kind in (BlockKind.HEADING, BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.CODE):
        assert kinds[kind] > 500
    assert kinds[BlockKind.TABLE] > 0
