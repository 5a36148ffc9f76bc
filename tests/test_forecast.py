from __future__ import annotations

from array import array
from decimal import Decimal
from typing import TypedDict

import pytest

from blockpass.errors import UserInputError
from blockpass.forecast import ForecastRow, PackBounds, Strategy, forecast, render_forecast
from blockpass.prices import ModelPrices, load_prices
from blockpass.usage import Usage


class Limits(TypedDict):
    context_window: int
    max_output: int
    min_cacheable: int


SONNET_LIMITS = Limits(context_window=200_000, max_output=64_000, min_cacheable=1_024)


@pytest.fixture(scope="module")
def sonnet() -> ModelPrices:
    return load_prices().for_model("claude-sonnet-4-5")


def five_blocks(prices: ModelPrices, **overrides: object) -> list[ForecastRow]:
    arguments: dict[str, object] = {
        "prefix_tokens": 2_000,
        "block_tokens": [100, 200, 300, 400, 500],
        "output_tokens": [10, 20, 30, 40, 50],
        "prices": prices,
        "bounds": PackBounds(min_blocks=1, max_blocks=2),
        **SONNET_LIMITS,
        **overrides,
    }
    return forecast(**arguments)  # type: ignore[arg-type]


def test_five_blocks_forecast_as_by_hand(sonnet: ModelPrices) -> None:
    per_block, cached, packed = five_blocks(sonnet)
    assert [row.strategy for row in (per_block, cached, packed)] == [
        Strategy.PER_BLOCK,
        Strategy.CACHED,
        Strategy.PACKED,
    ]
    # (a) 5 calls: input 5 × 2,000 + 1,500 = 11,500 × $3/M = $0.0345; 150 out × $15/M = $0.00225.
    assert per_block.calls == 5
    assert per_block.usage == Usage(uncached_input=11_500, output=150)
    assert per_block.cost.total == Decimal("0.03675")
    assert per_block.ratio == 1.0
    # (b) one 2,000 write ($0.0075), four reads 8,000 × $0.30/M ($0.0024), blocks $0.0045.
    assert cached.usage == Usage(
        uncached_input=1_500, cache_write_5m=2_000, cache_read=8_000, output=150
    )
    assert cached.cost.total == Decimal("0.01665")
    assert cached.ratio == pytest.approx(0.03675 / 0.01665)
    # (c) packs [100, 200] [300, 400] [500]: one write, two reads ($0.0012).
    assert packed.calls == 3
    assert packed.usage == Usage(
        uncached_input=1_500, cache_write_5m=2_000, cache_read=4_000, output=150
    )
    assert packed.cost.total == Decimal("0.01545")


def test_a_prefix_below_the_minimum_is_not_cached(sonnet: ModelPrices) -> None:
    per_block, cached, packed = five_blocks(sonnet, min_cacheable=4_096)
    assert cached.cost == per_block.cost
    assert cached.usage.cache_write == cached.usage.cache_read == 0
    assert any("below the model's minimum" in note for note in cached.notes)
    # Packed without caching: 3 × 2,000 + 1,500 = 7,500 × $3/M + $0.00225 = $0.02475.
    assert packed.usage == Usage(uncached_input=7_500, output=150)
    assert packed.cost.total == Decimal("0.02475")


def test_packs_close_at_the_input_budget(sonnet: ModelPrices) -> None:
    # Budget: 200,000 − 2,000 − 64,000 = 134,000 input tokens per pack.
    rows = forecast(
        prefix_tokens=2_000,
        block_tokens=[60_000, 60_000, 60_000, 200_000, 10],
        output_tokens=[1, 1, 1, 1, 1],
        prices=sonnet,
        **SONNET_LIMITS,
    )
    packed = rows[2]
    # [60k, 60k] [60k] [200k] [10]: the 200k block goes alone and is flagged; the first three
    # packs were closed by the budget below the minimum of 10 blocks (the last one is not).
    assert packed.calls == 4
    assert (
        "blocks over the input budget (134,000) or output cap (32,000) alone, "
        "which the runner refuses: 1"
    ) in packed.notes
    assert "packs a budget closed below 10 blocks: 3" in packed.notes


def test_packs_close_at_the_output_cap_with_its_safety_margin(sonnet: ModelPrices) -> None:
    # Default margin 1.0: the cap is 64,000 / 2 = 32,000 estimated output tokens per pack.
    rows = forecast(
        prefix_tokens=2_000,
        block_tokens=[10] * 4,
        output_tokens=[16_000, 16_000, 16_001, 1],
        prices=sonnet,
        **SONNET_LIMITS,
    )
    assert rows[2].calls == 2  # [16,000 + 16,000] [16,001 + 1]


def test_an_explicit_output_cap_replaces_the_margin(sonnet: ModelPrices) -> None:
    rows = five_blocks(sonnet, bounds=PackBounds(), output_cap=30)
    assert rows[2].calls == 4  # outputs [10, 20] [30] [40] [50]; the last two are over alone
    assert any(note.endswith("refuses: 2") for note in rows[2].notes)


def test_batch_forecast_writes_with_the_1h_ttl_and_halves_the_price(sonnet: ModelPrices) -> None:
    realtime = five_blocks(sonnet)
    batch = five_blocks(sonnet, batch=True)
    assert batch[0].cost.total * 2 == realtime[0].cost.total
    assert batch[2].usage.cache_write_1h == 2_000
    assert batch[2].usage.cache_write_5m == 0
    # (c) in a batch: ($0.012 + $0.0012 + $0.0045 + $0.00225) / 2 = $0.01995 / 2.
    assert batch[2].cost.total == Decimal("0.009975")


def test_each_call_is_priced_in_its_own_tier_on_haiku_5_5() -> None:
    haiku = load_prices().for_model("claude-haiku-5-5")
    rows = forecast(
        prefix_tokens=99_900,
        block_tokens=[50, 150],
        output_tokens=[0, 0],
        prices=haiku,
        context_window=1_000_000,
        max_output=128_000,
        min_cacheable=512,
    )
    # (a) 99,950 × $0.10/M + 100,050 × $0.50/M = $0.009995 + $0.050025.
    assert rows[0].cost.total == Decimal("0.06002")
    # (b) the write is in the first call's normal tier (99,900 × $0.125/M = $0.0124875), the
    # read in the second call's long one (99,900 × $0.01/M × 5 = $0.004995), blocks as in (a).
    assert rows[1].cost.total == Decimal("0.0124875") + Decimal("0.004995") + Decimal("0.00008")
    # (c) one pack of 100,100 tokens, long: written once, 5 × $0.125/M, blocks 5 × $0.10/M.
    assert rows[2].calls == 1
    assert rows[2].cost.total == Decimal("0.0624375") + Decimal("0.0001")


def test_block_and_output_counts_of_different_lengths_are_refused(sonnet: ModelPrices) -> None:
    with pytest.raises(UserInputError, match="differ in length"):
        five_blocks(sonnet, output_tokens=[1, 2])


def test_a_prefix_that_fills_the_context_is_refused(sonnet: ModelPrices) -> None:
    with pytest.raises(UserInputError, match="leave no room for blocks"):
        five_blocks(sonnet, prefix_tokens=136_000)


def test_no_blocks_forecast_no_calls(sonnet: ModelPrices) -> None:
    rows = five_blocks(sonnet, block_tokens=[], output_tokens=[])
    assert [row.calls for row in rows] == [0, 0, 0]
    assert all(row.ratio is None for row in rows)


def test_200k_blocks_from_generators_forecast_in_one_pass(sonnet: ModelPrices) -> None:
    count = 200_000
    rows = forecast(
        prefix_tokens=20_000,
        block_tokens=(60 + i % 100 for i in range(count)),
        output_tokens=array("I", [12]) * count,
        prices=sonnet,
        **SONNET_LIMITS,
    )
    assert [row.calls for row in rows] == [count, count, count // 40]
    assert rows[2].usage.cache_read == (count // 40 - 1) * 20_000
    assert rows[2].ratio is not None
    assert rows[2].ratio > rows[1].ratio > 1  # type: ignore[operator]


def test_the_forecast_table_shows_each_strategy_and_its_notes(sonnet: ModelPrices) -> None:
    text = render_forecast(five_blocks(sonnet, min_cacheable=4_096), title="5 blocks")
    lines = text.splitlines()
    assert lines[0] == "5 blocks"
    assert "one call per block" in lines[2]
    assert "(baseline)" in lines[2]
    assert "$0.036750" in lines[2]
    assert "+ packing" in lines[4]
    assert "1.5× cheaper" in lines[4]  # 0.03675 / 0.02475 = 1.48
    assert any(line.startswith("+ prompt caching: no caching") for line in lines)
