"""Markdown read as Vale reads it: which text each scope holds, and where it came from."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.documents import read_document, read_documents
from blockpass.documents.markdown import read_markdown
from blockpass.rules.markup import read_texts
from blockpass.rules.scopes import ScopedText, parse_scope

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _texts(markdown: str) -> list[ScopedText]:
    document = read_markdown(markdown.encode(), document_id="t.md", path=Path("t.md"))
    return read_texts(document)[1]


def _plain(markdown: str) -> list[tuple[str, str]]:
    """(sections without `text` and `md`, text) of each scoped text."""
    return [(".".join(sorted(t.sections - {"text", "md"})), t.text) for t in _texts(markdown)]


def test_code_is_masked_link_targets_and_labels_are_dropped_and_urls_blanked() -> None:
    markdown = (
        "Use `the tool` with [the docs][ref] and [this](http://x/y (t)) at <https://a.b>\n"
        "or https://c.d/e.\n\n[ref]: http://r\n"
    )
    assert _plain(markdown) == [
        ("", "Use ******** with the docs and this at ***********\nor *************.")
    ]


def test_escapes_entities_and_emphasis_read_as_their_text() -> None:
    assert _plain("A \\*literal\\* star, *emphasis* and &amp; ~~gone~~ too.") == [
        ("", "A *literal* star, emphasis and & gone too.")
    ]


def test_alt_text_is_a_scope_of_its_own_and_image_targets_are_not_read() -> None:
    assert _plain("See ![An image (big)](a(b).png) here.") == [
        ("", "See  here."),
        ("alt.attr", "An image (big)"),
    ]


def test_block_kinds_map_to_vales_scopes() -> None:
    markdown = (
        "# Title\n\nSub\n---\n\n#### Deep ####\n\n- item one\n- item two\n\n> quoted\n\n"
        "| Head | More |\n|------|------|\n| cell | `code` |\n\n```\nnot read\n```\n"
    )
    assert _plain(markdown) == [
        ("h1.heading", "Title"),
        ("h2.heading", "Sub"),
        ("h4.heading", "Deep"),
        ("list", "item one"),
        ("list", "item two"),
        ("blockquote", "quoted"),
        ("header.table", "Head"),
        ("header.table", "More"),
        ("cell.table", "cell"),
        ("cell.table", "****"),
    ]


def test_html_text_is_read_but_not_inside_pre_or_figure_which_can_span_blocks() -> None:
    markdown = (
        '<span class="filename">Filename: src/main.rs</span>\n\n<figure>\n\n'
        '<img alt="Two tables" src="x.svg">\n\nSkipped paragraph.\n\n'
        "<figcaption>Skipped caption</figcaption>\n\n</figure>\n\n<!-- a comment -->\n\n"
        "<pre>skipped <b>too</b></pre>\n\nRead again.\n"
    )
    assert _plain(markdown) == [
        ("", "Filename: src/main.rs"),
        ("alt.attr", "Two tables"),
        ("", "Read again."),
    ]


def test_every_character_points_at_itself_in_the_source_across_containers() -> None:
    markdown = "> Quoted **bold** line\n> continued `code` here.\n\n- item\n  continued *line*\n"
    document = read_markdown(markdown.encode(), document_id="t.md")
    source, texts = read_texts(document)
    for text in texts:
        for index, char in enumerate(text.text):
            if char != "*":
                assert source.source[text.source_offset(index)] == char
    quoted = texts[0]
    assert quoted.text == "Quoted bold line\ncontinued **** here."
    assert source.position(quoted.source_offset(quoted.text.index("here"))) == (2, 20)


@pytest.mark.slow
def test_offsets_agree_with_the_source_on_the_whole_rust_book() -> None:
    documents = read_documents([DATA / "corpora" / "rust-book"])
    compared = agreeing = 0
    for document in documents:
        source, texts = read_texts(document)
        for text in texts:
            offsets = [text.source_offset(i) for i in range(len(text.text))]
            assert offsets == sorted(offsets), (document.id, text.text[:60])
            for char, offset in zip(text.text, offsets, strict=True):
                if char not in "*\n":
                    compared += 1
                    agreeing += source.source[offset] == char
    assert compared > 500_000
    # Only characters the source spells otherwise (entities, escapes) may point elsewhere.
    assert agreeing / compared > 0.9999


def test_scopes_select_texts_as_vale_selectors_do() -> None:
    heading = frozenset({"text", "heading", "h2", "md"})
    assert parse_scope(["heading"]).matches(heading)
    assert parse_scope(["heading.h2"]).matches(heading)
    assert not parse_scope(["heading.h1"]).matches(heading)
    assert parse_scope(["text"]).matches(heading)
    assert not parse_scope(["~heading"]).matches(heading)
    assert parse_scope(["text & ~list"]).matches(heading)
    assert not parse_scope(["list", "blockquote"]).matches(heading)
    # Sentences are fragments: read only by rules that name them.
    sentence = heading | {"sentence"}
    assert parse_scope(["sentence"]).matches(sentence, "sentence")
    assert not parse_scope(["text"]).matches(sentence, "sentence")
    assert not parse_scope(["~list"]).matches(frozenset({"raw", "md"}))


def test_a_plain_text_document_is_one_text_scope_per_paragraph(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("First paragraph.\n\n  Second one.\n", encoding="utf-8")
    source, texts = read_texts(read_document(path, document_id="notes.txt"))
    assert [(sorted(t.sections), t.text) for t in texts] == [
        (["text", "txt"], "First paragraph."),
        (["text", "txt"], "Second one."),
    ]
    assert source.position(texts[1].source_offset(0)) == (3, 3)
