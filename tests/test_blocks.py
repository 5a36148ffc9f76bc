from __future__ import annotations

import dataclasses
import json

import pytest

from blockpass.blocks import Block, BlockKind, Document, Span


def _block(
    index: int = 0, text: str = "Some text.", kind: BlockKind = BlockKind.PARAGRAPH
) -> Block:
    return Block.create(document_id="guide/intro.md", index=index, kind=kind, text=text)


def test_a_block_id_is_the_document_id_and_position() -> None:
    assert _block(index=3).id == "guide/intro.md#3"


def test_a_users_own_block_id_is_kept_and_scoped_to_its_document() -> None:
    block = Block.create(
        document_id="d.jsonl", index=0, kind=BlockKind.HEADING, text="x", source_id="cms-17"
    )
    assert block.id == "d.jsonl#cms-17"
    assert block.source_id == "cms-17"


def test_content_hash_changes_when_text_changes_and_not_when_position_changes() -> None:
    assert _block(index=0).content_hash == _block(index=9).content_hash
    assert _block(text="Some text.").content_hash != _block(text="Some text!").content_hash
    assert len(_block().content_hash) == 32


def test_content_hash_covers_the_kind() -> None:
    paragraph, heading = _block(kind=BlockKind.PARAGRAPH), _block(kind=BlockKind.HEADING)
    assert paragraph.content_hash != heading.content_hash


def test_values_are_frozen() -> None:
    block = _block()
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.text = "changed"  # type: ignore[misc]


def test_block_kinds_are_plain_strings_for_serialisation() -> None:
    assert json.dumps([BlockKind.LIST_ITEM]) == '["list_item"]'
    assert BlockKind("list_item") is BlockKind.LIST_ITEM
    assert {kind.value for kind in BlockKind} >= {"heading", "image_only", "front_matter", "empty"}


def test_a_span_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="invalid span"):
        Span(start=5, end=4)


def test_a_document_finds_its_blocks_by_id() -> None:
    blocks = (_block(index=0), _block(index=1, text="Other."))
    document = Document(id="guide/intro.md", path=None, format="text", raw=b"", blocks=blocks)
    assert document.block("guide/intro.md#1").text == "Other."
    with pytest.raises(KeyError):
        document.block("guide/intro.md#2")
