"""How ``auto`` prices the packs of each mode: what is cached, written once and read after."""

from __future__ import annotations

from decimal import Decimal

from blockpass.blocks import Block, BlockKind
from blockpass.context import PackContext, SharedUnits
from blockpass.context_choice import price_packs
from blockpass.packing import Pack
from blockpass.prices import load_prices
from blockpass.providers.base import model_profile

PROFILE = model_profile("claude-sonnet-4-5")
PRICES = load_prices().for_model(PROFILE.id)
MILLION = Decimal(1_000_000)


def pack(number: int, context: PackContext) -> Pack:
    block = Block.create(document_id="d.md", index=number, kind=BlockKind.PARAGRAPH, text="x")
    return Pack(
        id=f"p{number}", blocks=(block,), input_tokens=100 + context.all_tokens,
        estimated_output=0, context=context,
    )  # fmt: skip


def test_a_shared_part_is_written_once_then_read_and_the_packs_own_units_are_never_cached() -> None:
    shared = SharedUnits(text="<shared/>", tokens=2_000, units=("u1",))
    packs = [pack(n, PackContext(text=f"own {n}", tokens=300, shared=shared)) for n in range(3)]
    # The 500-token prefix alone is too short to cache; with the shared part it is not.
    usd = price_packs(packs, prefix_tokens=500, profile=PROFILE, prices=PRICES)
    uncached = 3 * (500 + 100 + 300)
    expected = (
        uncached * PRICES.input + 2_000 * PRICES.cache_write_5m + 2 * 2_000 * PRICES.cache_read
    ) / MILLION
    assert usd == expected


def test_without_a_shared_part_a_short_prefix_and_every_pack_are_sent_uncached() -> None:
    packs = [pack(n, PackContext(text=f"own {n}", tokens=300)) for n in range(3)]
    usd = price_packs(packs, prefix_tokens=500, profile=PROFILE, prices=PRICES)
    assert usd == 3 * (500 + 100 + 300) * PRICES.input / MILLION


def test_in_batches_the_shared_part_is_written_once_for_an_hour_and_every_token_is_discounted() -> (
    None
):
    shared = SharedUnits(text="<shared/>", tokens=2_000, units=("u1",))
    packs = [pack(n, PackContext(text=f"own {n}", tokens=300, shared=shared)) for n in range(3)]
    usd = price_packs(packs, prefix_tokens=500, profile=PROFILE, prices=PRICES, batch=True)
    uncached = 3 * (500 + 100 + 300)
    full_price = (
        uncached * PRICES.input + 2_000 * PRICES.cache_write_1h + 2 * 2_000 * PRICES.cache_read
    ) / MILLION
    assert usd == full_price * (1 - PRICES.batch_discount)
