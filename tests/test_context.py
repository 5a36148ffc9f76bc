"""Retrieved rules per pack: widening, fallbacks, trimming and grouping, on a scripted index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from blockpass.blocks import Block, BlockKind
from blockpass.context import (
    BlockRules,
    Fallback,
    PackContexts,
    RetrievalSettings,
    wrap_retrieved,
)
from blockpass.execution.planning import PackPlanner
from blockpass.execution.requests import RequestLayout
from blockpass.guide_retrieval import retrieve_block_rules, units_about_kinds
from blockpass.packing import block_input_tokens
from blockpass.providers.base import PartKind, model_profile
from blockpass.rag import guide_units, vale_units
from blockpass.rag.index import CLOSE_SIMILARITY
from blockpass.rules import load_vale_package
from blockpass.task import load_task
from blockpass.tokens import count_tokens
from blockpass.unit_framing import UnitLabels, render_units

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@dataclass(frozen=True)
class Unit:
    id: str
    title: str
    text: str


@dataclass(frozen=True)
class Confidence:
    agreement: float = 0.5
    triggered: int = 0
    triggered_kept: int = 0
    close: int = 1


@dataclass(frozen=True)
class Hit:
    unit: Unit
    triggered: bool = False
    bm25_rank: int | None = None
    dense_rank: int | None = None
    dense_score: float = 0.0


@dataclass(frozen=True)
class Retrieval:
    hits: tuple[Hit, ...]
    confidence: Confidence


UNITS = [Unit(id=f"u{n}", title=f"Rule {n}", text=f"Text of rule {n}. " * 5) for n in range(30)]


@dataclass(frozen=True)
class Script:
    """How a scripted index ranks one text: unit numbers best first, how many of them (the
    first ones) a trigger fired for, the one both BM25 and dense retrieval rank first (if
    any), whether the two share nothing in their top K, and how many of the ranked units
    (the first ones) are close to the text in meaning."""

    ranked: list[int]
    triggered: int = 0
    agreed: int | None = None
    disputed: bool = False
    close: int = 0


class ScriptedIndex:
    def __init__(self, script: dict[str, Script]) -> None:
        self.script = script
        self.asked: list[tuple[str, int]] = []

    def search_many(self, texts: Sequence[str], k: int) -> list[Retrieval]:
        found = []
        for text in texts:
            self.asked.append((text, k))
            script = self.script[text]
            kept = script.ranked[:k]
            confidence = Confidence(
                agreement=0.0 if script.disputed else 0.5,
                triggered=script.triggered,
                triggered_kept=min(script.triggered, len(kept)),
                close=script.close,
            )
            hits = tuple(
                Hit(
                    UNITS[n],
                    triggered=rank < script.triggered,
                    bm25_rank=1 if n == script.agreed else rank + 2,
                    dense_rank=1 if n == script.agreed else rank + 2,
                    dense_score=CLOSE_SIMILARITY if rank < script.close else 0.1,
                )
                for rank, n in enumerate(kept)
            )
            found.append(Retrieval(hits, confidence))
        return found


def block(index: int, text: str) -> Block:
    return Block.create(document_id="doc.md", index=index, kind=BlockKind.PARAGRAPH, text=text)


def count(text: str) -> int:
    return count_tokens(text, model_profile("claude-sonnet-4-5").tokenizer)


def test_a_block_gets_its_certain_units_and_its_k_best_ranked_ones_close_in_meaning() -> None:
    index = ScriptedIndex(
        {
            "plain": Script(list(range(1, 9)), close=5),
            "busy": Script(list(range(12)), triggered=6, close=8),
            "core": Script([0, 9, 10], triggered=1, close=3),
        }
    )
    blocks = [block(0, "plain"), block(1, "busy"), block(2, "core")]
    rules = retrieve_block_rules(index, blocks, RetrievalSettings(k=2, wide_k=8), core=["u0"])
    assert rules[blocks[0].id] == BlockRules(("u1", "u2"))
    # Six certain units (the core's u0 among them, left out), then two close ones: the
    # certain ones took the places of the first search, so it searched deeper.
    assert rules[blocks[1].id] == BlockRules(("u1", "u2", "u3", "u4", "u5", "u6", "u7"))
    assert rules[blocks[2].id] == BlockRules(("u9", "u10"))
    assert index.asked == [("plain", 3), ("busy", 3), ("core", 3), ("busy", 9), ("core", 9)]


def test_a_unit_both_ranked_retrievers_rank_first_comes_beside_the_triggered_ones() -> None:
    index = ScriptedIndex({"user value": Script([3, 7, 9], triggered=1, agreed=7)})
    (only,) = blocks = [block(0, "user value")]
    rules = retrieve_block_rules(index, blocks, RetrievalSettings(k=1, wide_k=3))
    assert rules[only.id] == BlockRules(("u3", "u7"))


def test_a_block_with_more_certain_units_than_the_wide_k_gets_them_all_unwidened() -> None:
    index = ScriptedIndex({"crowded": Script(list(range(20)), triggered=12)})
    (only,) = blocks = [block(0, "crowded")]
    rules = retrieve_block_rules(index, blocks, RetrievalSettings(k=3, wide_k=8))
    assert rules[only.id] == BlockRules(tuple(f"u{n}" for n in range(12)))
    assert index.asked == [("crowded", 3), ("crowded", 15)]


def test_a_block_the_retrievers_disagree_on_gets_the_close_units_of_the_wide_k() -> None:
    index = ScriptedIndex({"vague": Script(list(range(20)), disputed=True, close=6)})
    (only,) = blocks = [block(0, "vague")]
    rules = retrieve_block_rules(index, blocks, RetrievalSettings(k=3, wide_k=8))
    assert rules[only.id] == BlockRules(tuple(f"u{n}" for n in range(6)), widened=True)
    assert index.asked == [("vague", 3), ("vague", 8)]


def test_a_block_nothing_is_close_to_gets_no_guesses_and_is_never_widened() -> None:
    index = ScriptedIndex(
        {
            "Refactoring": Script(list(range(20)), disputed=True),
            "the compiler": Script(list(range(20))),
            "the `you` term": Script(list(range(20)), triggered=1),
        }
    )
    blocks = [block(0, "Refactoring"), block(1, "the compiler"), block(2, "the `you` term")]
    rules = retrieve_block_rules(index, blocks, RetrievalSettings(k=3, wide_k=8))
    assert [rules[b.id] for b in blocks] == [BlockRules(()), BlockRules(()), BlockRules(("u0",))]
    assert [k for _, k in index.asked] == [3, 3, 3, 4]


def test_a_disputed_block_close_to_more_units_than_the_wide_k_is_marked_for_a_fallback() -> None:
    index = ScriptedIndex(
        {
            "documentation": Script(list(range(20)), disputed=True, close=9),
            "comments": Script(list(range(20)), disputed=True, close=8),
        }
    )
    blocks = [block(0, "documentation"), block(1, "comments")]
    rules = retrieve_block_rules(index, blocks, RetrievalSettings(k=3, wide_k=8))
    assert [rules[b.id].widened for b in blocks] == [True, True]
    assert [rules[b.id].unsure for b in blocks] == [True, False]


def test_a_heading_gets_the_units_about_headings_as_certain_whatever_its_words() -> None:
    index = ScriptedIndex({"Refactoring": Script(list(range(20)), disputed=True, close=2)})
    heading = Block.create(
        document_id="doc.md", index=0, kind=BlockKind.HEADING, text="Refactoring"
    )
    paragraph = block(1, "Refactoring")
    rules = retrieve_block_rules(
        index,
        [heading, paragraph],
        RetrievalSettings(k=1, wide_k=3),
        kind_units={BlockKind.HEADING: ("u12", "u0")},
        core=["u0"],
    )
    # The heading is sure of its units: it is not widened.
    assert rules[heading.id] == BlockRules(("u12", "u1"))
    assert rules[paragraph.id] == BlockRules(("u1",), widened=True)


def test_the_units_about_a_kind_are_those_whose_title_names_it() -> None:
    guides = Path(__file__).resolve().parents[2] / "shared" / "data" / "guides"
    redhat = units_about_kinds(guide_units(guides / "redhat-supplementary-style-guide"))
    assert [unit_id.rpartition("#")[2] for unit_id in redhat[BlockKind.HEADING]] == [
        "_principle_3_titles_and_headings",
        "titles-and-headings",
        "headings-for-release-notes",
    ]
    eighteen_f = units_about_kinds(guide_units(guides / "18f-content-guide"))
    assert "18f-content-guide/our-style/capitalization.md#headings" in eighteen_f[BlockKind.HEADING]
    google = units_about_kinds(
        vale_units([load_vale_package(guides.parent / "styles" / "Google" / "Google")])
    )
    assert set(google[BlockKind.HEADING]) == {"Google.HeadingPunctuation", "Google.Headings"}


def contexts(
    rules: dict[str, BlockRules], full_guide: str = "<style_guide>x</style_guide>"
) -> PackContexts:
    return PackContexts(units=UNITS, rules=rules, full_guide=full_guide, count=count)


def test_a_packs_units_are_deduplicated_and_written_in_reading_order() -> None:
    first, second = block(0, "a"), block(1, "b")
    packs = contexts({first.id: BlockRules(("u5", "u2")), second.id: BlockRules(("u2", "u9"))})
    context = packs.for_pack([first, second], room=10_000)
    assert context.units == ("u2", "u5", "u9")
    assert render_units([UNITS[2], UNITS[5], UNITS[9]], UnitLabels.of(UNITS)) in context.text
    assert context.tokens == count(context.text)
    assert context.fallback is None
    assert not context.cached


def test_units_that_do_not_fit_are_dropped_worst_ranked_first_and_counted() -> None:
    first, second = block(0, "a"), block(1, "b")
    packs = contexts({first.id: BlockRules(("u1", "u3")), second.id: BlockRules(("u2", "u4"))})
    one_unit = count(render_units([UNITS[1]], UnitLabels.of(UNITS))) + 1
    context = packs.for_pack(
        [first, second], room=count("<retrieved_rules>\n\n</retrieved_rules>") + 2 * one_unit
    )
    # Both blocks' best units stay; their second-best ones are trimmed.
    assert context.units == ("u1", "u2")
    assert packs.stats.trimmed_units == 2


def test_an_unsure_block_brings_the_whole_guide_with_its_own_breakpoint_where_it_fits() -> None:
    sure, unsure = block(0, "a"), block(1, "b")
    guide = "<style_guide>" + "All the rules. " * 200 + "</style_guide>"
    packs = contexts(
        {sure.id: BlockRules(("u1",)), unsure.id: BlockRules(("u2",), widened=True, unsure=True)},
        full_guide=guide,
    )
    context = packs.for_pack([sure, unsure], room=10_000)
    assert (context.text, context.fallback, context.cached) == (guide, Fallback.FULL_GUIDE, True)
    # Where the guide does not fit, the pack keeps the core and the best units that fit.
    small = packs.for_pack([sure, unsure], room=count(guide) - 1)
    assert small.fallback is Fallback.WIDEST_FIT
    assert small.units == ("u1", "u2")
    assert packs.stats.to_json()["fallback"] == {
        "core and the widest K that fits": 2,
        "full guide": 2,
    }


def test_blocks_are_grouped_by_their_best_unit_and_unsure_blocks_go_apart() -> None:
    blocks = [block(n, str(n)) for n in range(5)]
    rules = {
        blocks[0].id: BlockRules(("u7",)),
        blocks[1].id: BlockRules(("u3",), unsure=True),
        blocks[2].id: BlockRules(("u2", "u7")),
        blocks[3].id: BlockRules(("u7", "u1")),
        blocks[4].id: BlockRules(()),
    }
    groups = contexts(rules).groups(blocks)
    assert [[b.index for b in group] for group in groups] == [[4, 2, 0, 3], [1]]


def test_packs_of_a_retrieve_run_carry_their_rules_after_the_prefix_and_count_them() -> None:
    profile = model_profile("claude-sonnet-4-5")
    task = load_task(EXAMPLES / "guide.md").with_core("", retrieval="test-index k=3")
    layout = RequestLayout(task=task, profile=profile, count=count)
    blocks = [block(n, f"Paragraph {n}.") for n in range(4)]
    guide = load_task(EXAMPLES / "guide.md").guide_part
    rules = {b.id: BlockRules((f"u{b.index}",), unsure=b.index == 3) for b in blocks}
    planner = PackPlanner(
        profile=profile,
        prefix_tokens=layout.prefix_tokens,
        min_blocks=1,
        max_blocks=2,
        count=count,
        contexts=contexts(rules, full_guide=guide),
    )
    plain, rest, fallback = planner.plan(blocks)
    assert plain.context.units == ("u0", "u1")
    assert rest.context.units == ("u2",)
    # The unsure block falls back alone: the blocks retrieval is sure of keep their rules.
    assert [b.index for b in fallback.blocks] == [3]
    assert fallback.context.text == guide
    for pack in (plain, fallback):
        request = layout.request(pack, expected_gap_seconds=0)
        (context,) = [part for part in request.parts if part.kind is PartKind.CONTEXT]
        assert context.text == pack.context.text
        assert (context.cache_ttl is not None) is pack.context.cached
        assert pack.input_tokens == pack.context.tokens + sum(
            block_input_tokens(b, count) for b in pack.blocks
        )


def test_retrieval_settings_refuse_a_wide_k_below_k() -> None:
    with pytest.raises(ValueError, match="k <= wide_k"):
        RetrievalSettings(k=5, wide_k=3)


def test_units_many_packs_carry_are_shared_once_and_left_out_of_each_packs_own() -> None:
    blocks = [block(n, str(n)) for n in range(20)]
    # u1 in every pack, u2 in three of twenty (the break-even is 1.25 + 0.1 * 19 = 3.15).
    rules = {
        b.id: BlockRules(("u1", f"u{10 + b.index % 10}", *(("u2",) if b.index < 3 else ())))
        for b in blocks
    }
    packs = contexts(rules)
    packs.share([[b] for b in blocks], room=lambda pack: 10_000, min_tokens=0)
    context = packs.for_pack([blocks[0], blocks[1]], room=10_000)
    assert context.shared.units == ("u1",)
    assert context.shared.tokens == count(context.shared.text)
    assert render_units([UNITS[1]], UnitLabels.of(UNITS)) in context.shared.text
    assert context.units == ("u2", "u10", "u11")
    assert context.all_tokens == context.tokens + context.shared.tokens
    assert packs.stats.to_json()["shared_units"] == 1
    assert packs.stats.to_json()["shared_tokens"] == context.shared.tokens
    assert packs.stats.to_json()["own_tokens"] == context.tokens
    # Chosen once: a later plan (a retry's) keeps the shared part its requests cache.
    packs.share([[blocks[0]]], room=lambda pack: 10_000, min_tokens=0)
    assert packs.for_pack([blocks[5]], room=10_000).shared.units == ("u1",)


def test_nothing_is_shared_that_would_be_too_short_to_cache_or_that_no_pack_room_holds() -> None:
    blocks = [block(n, str(n)) for n in range(20)]
    rules = {b.id: BlockRules(("u1",)) for b in blocks}
    short = contexts(rules)
    short.share([[b] for b in blocks], room=lambda pack: 10_000, min_tokens=1_024)
    assert short.for_pack(blocks[:1], room=10_000).shared.units == ()
    assert short.for_pack(blocks[:1], room=10_000).units == ("u1",)
    both = {b.id: BlockRules(("u1", "u2")) for b in blocks}
    shared = contexts(both)
    shared.share([[b] for b in blocks], room=lambda pack: 10_000, min_tokens=0)
    one_unit = count(render_units([UNITS[1]], UnitLabels.of(UNITS))) + 1
    cramped = shared.for_pack(blocks[:1], room=count(wrap_retrieved("")) + one_unit)
    # The shared part does not fit this pack: it keeps what fits of its own, best first.
    assert (cramped.shared.units, cramped.units) == ((), ("u1",))


def test_a_lane_that_caches_sends_the_shared_part_with_its_own_breakpoint_and_one_that_cannot_never_shares() -> (
    None
):
    blocks = [block(n, f"Paragraph {n}.") for n in range(40)]
    # Every block needs the long units u0-u19 (shared, they come to more than 1,024 tokens)
    # and one of its own.
    many = [Unit(id=f"u{n}", title=f"Rule {n}", text=f"Text of rule {n}. " * 40) for n in range(60)]
    rules = {b.id: BlockRules((*(f"u{n}" for n in range(20)), f"u{20 + b.index}")) for b in blocks}
    for model, shares in (("claude-sonnet-4-5", True), ("smollm2-135m-instruct", False)):
        profile = model_profile(model)
        task = load_task(EXAMPLES / "guide.md").with_core("", retrieval="test-index k=3")
        layout = RequestLayout(task=task, profile=profile, count=count)
        planner = PackPlanner(
            profile=profile, prefix_tokens=layout.prefix_tokens, min_blocks=1, max_blocks=4,
            count=count,
            contexts=PackContexts(units=many, rules=rules, full_guide="", count=count),
        )  # fmt: skip
        first, *_ = planner.plan(blocks)
        assert bool(first.context.shared.units) is shares
        if shares:
            request = layout.request(first, expected_gap_seconds=0)
            shared, own = [part for part in request.parts if part.kind is PartKind.CONTEXT]
            assert shared.text == first.context.shared.text
            assert shared.cache_ttl is not None
            assert own.cache_ttl is None
            assert first.input_tokens == first.context.all_tokens + sum(
                block_input_tokens(b, count) for b in first.blocks
            )


def test_once_units_are_shared_blocks_are_grouped_by_their_best_unit_not_shared() -> None:
    blocks = [block(n, str(n)) for n in range(20)]
    # Every block's best unit is u1 (shared); its next one is one of u11 down to u2, each
    # in two packs (too few to share).
    rules = {b.id: BlockRules(("u1", f"u{11 - b.index % 10}")) for b in blocks}
    packs = contexts(rules)
    assert [b.index for b in packs.groups(blocks)[0]] == list(range(20))
    packs.share([[b] for b in blocks], room=lambda pack: 10_000, min_tokens=0)
    (grouped,) = packs.groups(blocks)
    assert [b.index for b in grouped] == [n + m for n in range(9, -1, -1) for m in (0, 10)]
