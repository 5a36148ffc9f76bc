from __future__ import annotations

import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blockpass.blocks import BlockKind, Document
from blockpass.documents import render_document
from blockpass.documents.markdown import read_markdown
from blockpass.errors import UserInputError
from tests.documents.samples import CORPORA, SAMPLE_MARKDOWN, corpus_documents, corpus_files

# Replacing these with plain words keeps the document's structure, so the property below
# can demand that every other block survives unchanged.
_EDITABLE = {BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.BLOCKQUOTE, BlockKind.HEADING}
_WORDS = st.from_regex(r"[A-Za-z]{1,8}( [A-Za-z]{1,8}){0,6}", fullmatch=True)


@functools.cache
def _property_documents() -> list[Document]:
    names = [
        "rust-book/ch00-00-introduction.md",
        "rust-book/ch03-02-data-types.md",
        "rust-book/ch07-02-defining-modules-to-control-scope-and-privacy.md",
        "tldr/7z.md",
    ]
    samples = [
        read_markdown(SAMPLE_MARKDOWN.encode(), document_id="sample.md"),
        read_markdown(SAMPLE_MARKDOWN.replace("\n", "\r\n").encode(), document_id="crlf.md"),
    ]
    return samples + [
        read_markdown((CORPORA / name).read_bytes(), document_id=name) for name in names
    ]


def test_every_corpus_file_round_trips_byte_identical_without_edits() -> None:
    documents = corpus_documents()
    # 101 chapters; 1,000 tldr pages plus its LICENSE.md. One page is named `..md`
    # (the `.` command), so a reader that skipped dot-files would lose it.
    assert len([d for d in documents if d.id.startswith("rust-book/")]) == 101
    assert len([d for d in documents if d.id.startswith("tldr/")]) == 1001
    assert [d.path for d in documents] == corpus_files()
    for document in documents:
        assert render_document(document, {}) == document.raw, document.id


def test_an_edit_in_one_paragraph_changes_only_that_paragraphs_bytes() -> None:
    document = read_markdown(SAMPLE_MARKDOWN.encode(), document_id="sample.md")
    target = next(b for b in document.blocks if b.kind is BlockKind.PARAGRAPH)
    assert target.span is not None
    new_text = "A rewritten paragraph, now with “quotes”."
    out = render_document(document, {target.id: new_text})
    raw = document.raw
    assert out[: target.span.start] == raw[: target.span.start]
    assert out[target.span.start :].startswith(new_text.encode())
    assert out[target.span.start + len(new_text.encode()) :] == raw[target.span.end :]


def test_edits_to_every_block_of_a_corpus_file_land_in_the_right_places() -> None:
    document = read_markdown((CORPORA / "tldr/curl.md").read_bytes(), document_id="tldr/curl.md")
    editable = [b for b in document.blocks if b.kind in _EDITABLE]
    replacements = {b.id: f"edited {b.index}" for b in editable}
    reread = read_markdown(render_document(document, replacements), document_id="tldr/curl.md")
    assert [b.text for b in reread.blocks] == [
        replacements.get(b.id, b.text) for b in document.blocks
    ]


def test_a_heading_edit_keeps_its_markers_and_closing_sequence() -> None:
    document = read_markdown(b"## Old title ##\r\n\r\n- item\r\n", document_id="d.md")
    out = render_document(document, {"d.md#0": "New title", "d.md#1": "changed item"})
    assert out == b"## New title ##\r\n\r\n- changed item\r\n"


def test_write_back_refuses_unknown_ids() -> None:
    document = read_markdown(b"text\n", document_id="d.md")
    with pytest.raises(UserInputError, match=r"^d\.md: no block with id 'd\.md#5'$"):
        render_document(document, {"d.md#5": "x"})


@pytest.mark.slow
@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_write_back_then_reread_keeps_the_other_blocks_text(data: st.DataObject) -> None:
    document = data.draw(st.sampled_from(_property_documents()))
    editable = [b for b in document.blocks if b.kind in _EDITABLE]
    chosen = data.draw(st.lists(st.sampled_from(editable), unique_by=lambda b: b.id, max_size=8))
    replacements = {b.id: data.draw(_WORDS) for b in chosen}
    reread = read_markdown(render_document(document, replacements), document_id=document.id)
    assert len(reread.blocks) == len(document.blocks)
    for before, after in zip(document.blocks, reread.blocks, strict=True):
        assert after.id == before.id
        if before.id in replacements:
            assert after.text == replacements[before.id]
        else:
            assert (after.kind, after.text) == (before.kind, before.text)
