"""A worker's retrieval counts: each pack's, kept by its blocks until its job takes them."""

from __future__ import annotations

from blockpass.context import BlockRules, ContextStats, Fallback, RetrievedRules
from blockpass.workers.context_counts import PackCounts
from tests.test_context import UNITS, block, count


def test_each_job_takes_the_counts_of_its_own_packs_whoever_laid_out_packs_in_between() -> None:
    first = [block(n, str(n)) for n in range(3)]
    second = [block(n, str(n)) for n in range(3, 6)]
    rules = {b.id: BlockRules((f"u{b.index}", "u9"), widened=b.index == 4) for b in first + second}
    rules[second[2].id] = BlockRules(("u20",), widened=True, unsure=True)
    counts = PackCounts()
    contexts = RetrievedRules(
        units=UNITS, rules=rules, full_guide="<style_guide>x</style_guide>", on_pack=counts.add
    ).contexts(count)
    # Two jobs of one worker interleave: the first lays out a pack, the second both of its
    # packs, the first its second (a retry of one block).
    contexts.for_pack(first, room=10_000)
    contexts.for_pack(second[:2], room=10_000)
    contexts.for_pack(second[2:], room=10_000)
    contexts.for_pack(first[:1], room=10_000)

    taken = counts.take([b.id for b in second])
    assert taken is not None
    assert taken.to_json() == {
        "blocks": 3, "widened": 2, "fallback": {"full guide": 1}, "trimmed_units": 0,
        "packs": 2, "units_per_pack": 1.5, "shared_units": 0, "shared_tokens": 0,
        "own_tokens": taken.own_tokens,
    }  # fmt: skip
    others = counts.take([b.id for b in first])
    assert others is not None
    assert (others.packs, len(others.blocks)) == (2, 3)
    assert counts.take([b.id for b in first + second]) is None, "each pack is taken once"
    # The jobs' counts add up to what the worker's lane counted in all.
    whole = ContextStats.merged([taken, others])
    assert whole is not None
    assert whole.to_json() == contexts.stats.to_json()
    assert whole.fallback == {Fallback.FULL_GUIDE: {second[2].id}}
