from __future__ import annotations

import pytest

from blockpass.blocks import BlockKind
from blockpass.documents import render_document
from blockpass.documents.markdown import read_markdown
from blockpass.documents.text import read_text
from blockpass.errors import UserInputError


def test_paragraphs_are_separated_by_blank_lines() -> None:
    raw = b"First paragraph\nstill first.\n\n  Second, indented.  \n \t \nThird"
    document = read_text(raw, document_id="notes.txt")
    assert [block.text for block in document.blocks] == [
        "First paragraph\nstill first.",
        "Second, indented.",
        "Third",
    ]
    assert {block.kind for block in document.blocks} == {BlockKind.PARAGRAPH}
    assert [block.id for block in document.blocks] == ["notes.txt#0", "notes.txt#1", "notes.txt#2"]


def test_spans_slice_the_paragraph_text_out_of_raw_with_crlf() -> None:
    raw = "Ünïcode line\r\nnext\r\n\r\n\r\nlast\r\n".encode()
    document = read_text(raw, document_id="a.txt")
    for block in document.blocks:
        assert block.span is not None
        assert raw[block.span.start : block.span.end].decode() == block.text
    assert [block.text for block in document.blocks] == ["Ünïcode line\r\nnext", "last"]
    assert [block.span.line for block in document.blocks if block.span] == [1, 5]


def test_an_edit_replaces_only_that_paragraph() -> None:
    raw = b"one\n\ntwo\n\nthree\n"
    document = read_text(raw, document_id="a.txt")
    assert render_document(document, {"a.txt#1": "TWO!"}) == b"one\n\nTWO!\n\nthree\n"


@pytest.mark.parametrize("suffix", ["txt", "md"])
def test_non_utf8_input_is_refused_naming_the_file_and_byte_offset(suffix: str) -> None:
    reader = read_text if suffix == "txt" else read_markdown
    with pytest.raises(UserInputError, match=r"^latin1\.\w+: not valid UTF-8 .*offset 5\)$"):
        reader(b"caf\xc3\xa9\xe9 au lait", document_id=f"latin1.{suffix}")


@pytest.mark.parametrize("suffix", ["txt", "md"])
def test_binary_input_is_refused_naming_the_nul_offset(suffix: str) -> None:
    reader = read_text if suffix == "txt" else read_markdown
    with pytest.raises(UserInputError, match=r"looks binary \(NUL byte at offset 4\)"):
        reader(b"\x89PNG\x00\x00\x00\rIHDR", document_id=f"image.{suffix}")


@pytest.mark.parametrize("raw", [b"", b"\n\n", b" \t\r\n", b"\xef\xbb\xbf"])
def test_empty_input_is_refused(raw: bytes) -> None:
    with pytest.raises(UserInputError, match=r"^blank\.txt: is empty$"):
        read_text(raw, document_id="blank.txt")


def test_error_messages_are_one_line() -> None:
    with pytest.raises(UserInputError) as caught:
        read_text(b"\xff\xfe\x00", document_id="x.txt")
    assert "\n" not in str(caught.value)
    assert caught.value.retryable is False
