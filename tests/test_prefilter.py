from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from blockpass.blocks import Block, BlockKind, Outcome
from blockpass.documents import read_documents
from blockpass.prefilter import PrefilterSettings, prefilter, skip_reason


def block(text: str, kind: BlockKind = BlockKind.PARAGRAPH) -> Block:
    return Block.create(document_id="d.md", index=0, kind=kind, text=text)


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("fn main() {}", BlockKind.CODE, "kind:code"),
        ("| a | b |", BlockKind.TABLE, "kind:table"),
        ("   ", BlockKind.PARAGRAPH, "empty"),
        ("42 + 7 = 49", BlockKind.PARAGRAPH, "no-letters"),
        ("OK", BlockKind.PARAGRAPH, "too-short"),
        ("{{#rustdoc_include ../listings/ch01/main.rs}}", BlockKind.PARAGRAPH, "markup-only"),
        ("![A crab](img/ferris.png)", BlockKind.PARAGRAPH, "markup-only"),
        ("`cargo build` `cargo run`", BlockKind.LIST_ITEM, "markup-only"),
        ("<https://example.com/docs>", BlockKind.PARAGRAPH, "markup-only"),
        ("See [the docs](https://example.com).", BlockKind.PARAGRAPH, None),
        ("Run `cargo build` to compile.", BlockKind.PARAGRAPH, None),
        ("Installation", BlockKind.HEADING, None),
    ],
)
def test_each_skip_has_its_reason(text: str, kind: BlockKind, reason: str | None) -> None:
    assert skip_reason(block(text, kind), PrefilterSettings()) == reason


def test_skipped_kinds_and_the_minimum_are_configurable() -> None:
    settings = PrefilterSettings(skip_kinds=frozenset(), min_letters=1)
    assert skip_reason(block("x = 1", BlockKind.CODE), settings) is None
    assert skip_reason(block("OK"), settings) is None


@pytest.mark.slow
def test_every_block_is_either_sent_or_skipped_with_a_recorded_reason(shared_data: Path) -> None:
    documents = read_documents([shared_data / "corpora" / "rust-book"])
    blocks = [b for d in documents for b in d.blocks]
    to_send, skipped = prefilter(blocks)
    assert len(to_send) + len(skipped) == len(blocks)
    assert {result.outcome for result in skipped} == {Outcome.SKIPPED}
    reasons = Counter(result.reason for result in skipped)
    assert reasons["kind:code"] > 500
    assert all(reason for reason in reasons)
