"""Retrieve-mode planning: every block packed once, each pack's context bounded by its blocks'
units and its room, and a shared part that every pack can still hold."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from blockpass.context import BlockRules, PackContexts, wrap_retrieved
from blockpass.execution.planning import PackPlanner
from blockpass.execution.requests import RequestLayout
from blockpass.packing import block_input_tokens
from blockpass.providers.base import CacheTtl, model_profile
from blockpass.task import load_task
from blockpass.unit_framing import UnitLabels, render_units
from tests.test_context import EXAMPLES, UNITS, Unit, block, contexts, count

# A window small enough for the units' room to bind: 2,900 tokens of input.
CRAMPED = replace(model_profile("claude-sonnet-4-5"), context_window=8_000, max_output=4_000)
# Past the minimum cacheable length alone: any recurring unit may be shared.
PREFIX_TOKENS = 1_100


def planner(rules: dict[str, BlockRules], max_blocks: int) -> PackPlanner:
    return PackPlanner(
        profile=CRAMPED, prefix_tokens=PREFIX_TOKENS, min_blocks=1, max_blocks=max_blocks,
        count=count, contexts=contexts(rules),
    )  # fmt: skip


block_rules = st.builds(
    BlockRules,
    st.lists(st.sampled_from([unit.id for unit in UNITS]), max_size=6, unique=True).map(tuple),
    unsure=st.sampled_from([False, False, False, True]),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 60), block_rules), min_size=1, max_size=50),
    st.integers(1, 12),
)
def test_a_retrieve_plan_packs_every_block_once_within_the_budget_with_all_and_only_the_units_its_blocks_asked_for(
    drawn: list[tuple[int, BlockRules]], max_blocks: int
) -> None:
    blocks = [block(n, "word " * words) for n, (words, _) in enumerate(drawn)]
    rules = {b.id: rule for b, (_, rule) in zip(blocks, drawn, strict=True)}
    plan = planner(rules, max_blocks)
    packs = plan.plan(blocks)
    packed = Counter(b.id for pack in packs for b in pack.blocks)
    assert packed == Counter(b.id for b in blocks)
    for pack in packs:
        context = pack.context
        assert pack.input_tokens <= plan.limits.input_budget
        assert len(pack.blocks) <= max_blocks
        assert not set(context.units) & set(context.shared.units)
        if context.fallback is None:
            asked = {unit for b in pack.blocks for unit in rules[b.id].ranked}
            assert set(context.units) <= asked
            # Cut where its units stop fitting: only a block alone ever loses one.
            if len(pack.blocks) > 1:
                assert asked <= set(context.units) | set(context.shared.units)


def test_a_unit_is_shared_only_while_every_pack_still_holds_it_beside_all_its_own_units() -> None:
    blocks = [block(n, str(n)) for n in range(20)]
    # u1 is in every pack, u2 in every pack but the last, whose own units nearly fill it.
    rules = {b.id: BlockRules(("u1", "u2")) for b in blocks[:-1]}
    rules[blocks[-1].id] = BlockRules(("u1", "u20", "u21", "u22"))
    packs = [[b] for b in blocks]

    def tokens(number: int) -> int:
        return count(render_units([UNITS[number]], UnitLabels.of(UNITS))) + 1

    own = 2 * count(wrap_retrieved("")) + sum(tokens(n) for n in (1, 20, 21, 22))
    # Sharing u1 moves it out of the last pack's own part; sharing u2 adds it there.
    tight = own + tokens(2) - 1
    cramped = contexts(rules)
    cramped.share(packs, room=lambda pack: tight if pack == packs[-1] else 100_000, min_tokens=0)
    assert cramped.for_pack(blocks[:1], room=100_000).shared.units == ("u1",)
    roomy = contexts(rules)
    roomy.share(packs, room=lambda pack: tight + 1 if pack == packs[-1] else 100_000, min_tokens=0)
    assert roomy.for_pack(blocks[:1], room=100_000).shared.units == ("u1", "u2")


def test_an_hour_long_cache_write_shares_only_units_more_packs_carry() -> None:
    blocks = [block(n, str(n)) for n in range(22)]
    # u2 is in four of 22 packs: more than 1.25 + 0.1 * 21 = 3.35, not more than 2 + 2.1.
    rules = {b.id: BlockRules(("u1", *(("u2",) if b.index < 4 else ()))) for b in blocks}
    packs = [[b] for b in blocks]
    for ttl, shared in ((CacheTtl.FIVE_MINUTES, ("u1", "u2")), (CacheTtl.ONE_HOUR, ("u1",))):
        chosen = contexts(rules)
        chosen.share(packs, room=lambda pack: 10_000, min_tokens=0, ttl=ttl)
        assert chosen.for_pack(blocks[:1], room=10_000).shared.units == shared


def test_a_request_caches_its_prefix_and_shared_units_once_together_they_reach_the_minimum() -> (
    None
):
    profile = model_profile("claude-sonnet-4-5")
    task = load_task(EXAMPLES / "guide.md").with_core("", retrieval="test-index k=3")
    layout = RequestLayout(task=task, profile=profile, count=count)
    assert layout.prefix_tokens < profile.min_cacheable
    long = [Unit(id=f"u{n}", title=f"Rule {n}", text=f"Text of rule {n}. " * 40) for n in range(30)]
    blocks = [block(n, f"Paragraph {n}.") for n in range(40)]
    rules = {
        b.id: BlockRules((*(f"u{n}" for n in range(20)), f"u{20 + b.index % 10}")) for b in blocks
    }
    plan = PackPlanner(
        profile=profile, prefix_tokens=layout.prefix_tokens, min_blocks=1, max_blocks=4,
        count=count, contexts=PackContexts(units=long, rules=rules, full_guide="", count=count),
    )  # fmt: skip
    first, *_ = plan.plan(blocks)
    assert layout.cached_tokens(first) == layout.prefix_tokens + first.context.shared.tokens
    bare = replace(
        first, context=replace(first.context, shared=replace(first.context.shared, tokens=0))
    )
    assert layout.cached_tokens(bare) == 0
    assert first.input_tokens == first.context.all_tokens + sum(
        block_input_tokens(b, count) for b in first.blocks
    )


def test_on_a_small_window_a_pack_is_cut_where_its_blocks_units_stop_fitting_not_trimmed() -> None:
    long = [Unit(id=f"u{n}", title=f"Rule {n}", text=f"Text of rule {n}. " * 60) for n in range(12)]
    blocks = [block(n, f"Paragraph {n}.") for n in range(12)]
    # Each block needs a long unit of its own (about 400 tokens): four fit beside a pack.
    rules = {b.id: BlockRules((f"u{b.index}",)) for b in blocks}
    plan = PackPlanner(
        profile=CRAMPED, prefix_tokens=PREFIX_TOKENS, min_blocks=1, max_blocks=12, count=count,
        contexts=PackContexts(units=long, rules=rules, full_guide="", count=count),
    )  # fmt: skip
    packs = plan.plan(blocks)
    assert len(packs) > 1
    assert [b.index for pack in packs for b in pack.blocks] == list(range(12))
    assert all(pack.context.units == tuple(f"u{b.index}" for b in pack.blocks) for pack in packs)
    stats = plan.context_stats
    assert stats is not None
    assert stats.trimmed_units == 0
