from __future__ import annotations

import json
from typing import Protocol

import pytest

from blockpass.blocks import Block, BlockKind, Document
from blockpass.documents import render_document
from blockpass.documents.jsonl import read_json, read_jsonl, write_blocks_jsonl
from blockpass.documents.markdown import read_markdown
from blockpass.errors import UserInputError


class Reader(Protocol):
    def __call__(self, raw: bytes, *, document_id: str) -> Document: ...


JSONL = (
    b'{"id": "intro", "kind": "heading", "text": "Welcome"}\n'
    b"\n"
    b'{"id": "p-1", "text": "Plain paragraph.", "source": "cms:17"}\r\n'
    b'{"id": "note", "kind": "blockquote", "text": "Caf\\u00e9 \xe2\x9c\x93"}'
)


def test_user_ids_kinds_and_texts_are_kept_as_given() -> None:
    document = read_jsonl(JSONL, document_id="blocks.jsonl")
    assert [(b.source_id, b.kind, b.text) for b in document.blocks] == [
        ("intro", BlockKind.HEADING, "Welcome"),
        ("p-1", BlockKind.PARAGRAPH, "Plain paragraph."),
        ("note", BlockKind.BLOCKQUOTE, "Café ✓"),
    ]
    assert [b.id for b in document.blocks] == [
        "blocks.jsonl#intro",
        "blocks.jsonl#p-1",
        "blocks.jsonl#note",
    ]
    assert [b.index for b in document.blocks] == [0, 1, 2]
    assert all(b.span is None and b.document_id == "blocks.jsonl" for b in document.blocks)
    assert document.format == "jsonl"


def test_a_json_list_reads_like_jsonl() -> None:
    raw = json.dumps([{"id": "a", "kind": "list_item", "text": "x"}, {"id": "b", "text": "y"}])
    document = read_json(raw.encode(), document_id="blocks.json")
    assert [(b.source_id, b.kind, b.text) for b in document.blocks] == [
        ("a", BlockKind.LIST_ITEM, "x"),
        ("b", BlockKind.PARAGRAPH, "y"),
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"id": "a", "text": "ok"}\n{"id": "b", "text": \n', r"^b\.jsonl: line 2: invalid JSON"),
        (b'\n\n["a", "b"]\n', r"^b\.jsonl: line 3: expected an object with id, kind and text$"),
        (b'{"id": 7, "text": "x"}\n', r"^b\.jsonl: line 1: 'id' must be a non-empty string$"),
        (b'{"id": "a"}\n', r"^b\.jsonl: line 1: 'text' must be a string$"),
        (
            b'{"id": "a", "kind": "sidebar", "text": "x"}\n',
            r"^b\.jsonl: line 1: unknown kind 'sidebar' \(expected one of: heading, paragraph, ",
        ),
        (
            b'{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n',
            r"^b\.jsonl: line 2: duplicate id 'a' \(first at line 1\)$",
        ),
    ],
)
def test_a_bad_jsonl_line_is_refused_naming_its_line_number(raw: bytes, message: str) -> None:
    with pytest.raises(UserInputError, match=message) as caught:
        read_jsonl(raw, document_id="b.jsonl")
    assert "\n" not in str(caught.value)


def test_a_json_file_that_is_not_a_list_of_blocks_is_refused() -> None:
    with pytest.raises(UserInputError, match=r"^b\.json: expected a JSON list of block objects$"):
        read_json(b'{"id": "a", "text": "x"}', document_id="b.json")
    with pytest.raises(UserInputError, match=r"^b\.json: item 2: unknown kind 'x'"):
        read_json(
            b'[{"id": "a", "text": "x"}, {"id": "b", "kind": "x", "text": ""}]',
            document_id="b.json",
        )
    with pytest.raises(UserInputError, match=r"^b\.json: invalid JSON at line 1 column 2"):
        read_json(b"[,]", document_id="b.json")


def test_write_back_rewrites_only_the_edited_line_and_keeps_extra_fields() -> None:
    document = read_jsonl(JSONL, document_id="blocks.jsonl")
    assert render_document(document, {}) == JSONL
    out = render_document(document, {"blocks.jsonl#p-1": "Edited “paragraph”."})
    lines = out.split(b"\n")
    original = JSONL.split(b"\n")
    assert [lines[0], lines[1], lines[3]] == [original[0], original[1], original[3]]
    assert json.loads(lines[2]) == {"id": "p-1", "text": "Edited “paragraph”.", "source": "cms:17"}
    assert lines[2].endswith(b"\r")
    reread = read_jsonl(out, document_id="blocks.jsonl")
    assert [b.text for b in reread.blocks] == ["Welcome", "Edited “paragraph”.", "Café ✓"]


def test_write_back_of_a_json_list_keeps_its_format() -> None:
    document = read_json(b'[{"id": "a", "text": "x", "n": 1}]', document_id="b.json")
    out = render_document(document, {"b.json#a": "y"})
    assert json.loads(out) == [{"id": "a", "text": "y", "n": 1}]


def test_write_back_refuses_an_unknown_block_id() -> None:
    document = read_jsonl(JSONL, document_id="blocks.jsonl")
    with pytest.raises(UserInputError, match="no block with id 'missing'"):
        render_document(document, {"missing": "x"})


def test_blocks_written_as_jsonl_read_back_identically() -> None:
    markdown = read_markdown(b"# Title\n\n- item\n\n```\ncode\n```\n", document_id="d.md")
    document = read_jsonl(write_blocks_jsonl(markdown.blocks), document_id="d.jsonl")
    assert [(b.source_id, b.kind, b.text, b.content_hash) for b in document.blocks] == [
        (b.id, b.kind, b.text, b.content_hash) for b in markdown.blocks
    ]


def test_written_jsonl_is_one_object_a_line_in_utf8() -> None:
    block = Block.create(document_id="d", index=0, kind=BlockKind.PARAGRAPH, text="a\nb ✓")
    assert write_blocks_jsonl([block]) == (
        '{"id": "d#0", "kind": "paragraph", "text": "a\\nb ✓"}\n'.encode()
    )


def test_the_same_user_id_in_two_files_names_two_different_blocks() -> None:
    first = read_jsonl(b'{"id": "p1", "text": "One."}\n', document_id="a/blocks.jsonl")
    second = read_jsonl(b'{"id": "p1", "text": "Two."}\n', document_id="b/blocks.jsonl")
    assert first.blocks[0].id != second.blocks[0].id
    assert first.blocks[0].source_id == second.blocks[0].source_id == "p1"


@pytest.mark.parametrize(
    ("reader", "raw", "where"),
    [
        (read_jsonl, b'{"id": "a", "text": "x"}\n' + b"[" * 3000 + b"]" * 3000 + b"\n", "line 2: "),
        (read_json, b"[" * 3000 + b"]" * 3000, ""),
    ],
)
def test_json_nested_past_the_recursion_limit_is_refused_in_one_line(
    reader: Reader, raw: bytes, where: str
) -> None:
    with pytest.raises(UserInputError, match=rf"^deep\.json\w?: {where}JSON nested too deeply"):
        reader(raw, document_id="deep.json")
