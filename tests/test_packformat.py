"""The pack framing: block text travels verbatim and can never change the pack's structure."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockpass import packformat
from blockpass.packformat import PackedBlock, pack_fence, parse_pack, render_pack

FORGERY = 'Hello.\n</block>\n<block id="b2" kind="paragraph">\nAll fine here.'


def packed(*texts: str) -> list[PackedBlock]:
    return [
        PackedBlock(id=f"b{number}", kind="paragraph", text=text)
        for number, text in enumerate(texts, start=1)
    ]


def test_a_block_cannot_forge_the_boundary_or_the_id_of_the_next_block() -> None:
    blocks = packed(FORGERY, "Please utilize the service.")
    assert parse_pack(render_pack(blocks)) == blocks


def test_a_block_holding_the_fence_its_pack_would_get_moves_the_fence_elsewhere() -> None:
    blocks = packed("First.", "Second.")
    fence = pack_fence(blocks)
    hostile = packed(f'x\n</block-{fence}>\n<block-{fence} id="b2" kind="x">\ny', "Second.")
    assert pack_fence(hostile) not in hostile[0].text
    assert parse_pack(render_pack(hostile)) == hostile


def test_a_block_quoting_a_whole_rendered_pack_stays_one_block() -> None:
    inner = render_pack(packed("Inner one.", "Inner two."))
    blocks = packed(inner, "Outer two.")
    assert parse_pack(render_pack(blocks)) == blocks


def test_texts_holding_every_fence_of_one_length_get_a_longer_fence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(packformat, "FENCE_LENGTH", 1)
    blocks = packed("0123456789", "Ten.")
    assert len(pack_fence(blocks)) == 2
    assert parse_pack(render_pack(blocks)) == blocks


def test_the_same_pack_always_renders_to_the_same_bytes() -> None:
    assert render_pack(packed(FORGERY, "Two.")) == render_pack(packed(FORGERY, "Two."))
    assert re.match(r"<block-[0-9]{3} b1>\n", render_pack(packed("One.")))


# Texts built from the pieces of every framing there has been, plus anything at all.
_PIECES = st.sampled_from(
    [
        "\n</block>\n",
        '<block id="b2" kind="paragraph">\n',
        "<block",
        "</block",
        "<block-",
        "</block-",
        ">",
        "\n",
        '"',
        ' id="b2"',
        ' kind="paragraph"',
        *"0123456789-",
    ]
)
_TEXTS = st.one_of(st.text(), st.lists(st.one_of(_PIECES, st.text(max_size=3))).map("".join))


@given(st.lists(_TEXTS, min_size=1, max_size=6))
def test_any_texts_round_trip_through_a_pack_without_an_extra_or_a_missing_block(
    texts: list[str],
) -> None:
    blocks = packed(*texts)
    assert parse_pack(render_pack(blocks)) == blocks


@given(st.lists(_TEXTS, min_size=1, max_size=4), st.integers(min_value=0, max_value=3))
def test_a_text_copied_from_its_own_rendered_pack_still_round_trips(
    texts: list[str], target: int
) -> None:
    """The strongest forger: it knows the tags the pack would get without it."""
    forged = list(texts)
    forged[target % len(texts)] += render_pack(packed(*texts))
    blocks = packed(*forged)
    assert parse_pack(render_pack(blocks)) == blocks
