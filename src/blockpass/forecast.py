"""What a run would cost under each strategy, before any call is made (``blockpass estimate``).

Three rows, each adding one optimisation to the one before:

(a) one call per block: the prefix and the block every time, nothing cached;
(b) + caching: still one call per block, but the first call writes the prefix and every later
    call reads it; nothing is cached when the prefix is below the model's minimum;
(c) + packing: blocks packed greedily in order, then cached as in (b) with one write.

The forecast assumes the ideal the layout aims for: the first request of a prefix goes alone,
then calls come often enough that the TTL never lapses (a read refreshes it), so there is
exactly one write. Writes use the 5m TTL in realtime and 1h in a batch (``DESIGN.md``).

Collections reach millions of blocks, so the inputs are consumed once as plain ints, in a
single pass that tracks all three strategies at once, and no per-block object is built.
Tokens are summed per price tier (normal or long prompt) and priced once at the end.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from blockpass.errors import UserInputError
from blockpass.ledger import Money, describe_ratio, price_usage, usd
from blockpass.prices import ModelPrices
from blockpass.usage import Usage

__all__ = ["ForecastRow", "PackBounds", "Strategy", "forecast", "render_forecast"]


class Strategy(StrEnum):
    PER_BLOCK = "one call per block"
    CACHED = "+ prompt caching"
    PACKED = "+ packing"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackBounds:
    """Blocks per pack, and the safety margin on estimated output.

    A pack's estimated output times ``1 + output_margin`` must fit the model's max output:
    estimates are rough and a truncated pack is paid for and then re-sent. Greedy in-order
    packing fills a pack to ``max_blocks`` unless a budget stops it, so ``min_blocks`` shows
    up only as a count of packs the budgets forced below it.
    """

    min_blocks: int = 10
    max_blocks: int = 40
    output_margin: float = 0.25

    def __post_init__(self) -> None:
        if not 1 <= self.min_blocks <= self.max_blocks:
            raise UserInputError(
                f"pack bounds must satisfy 1 <= min <= max, got {self.min_blocks}-{self.max_blocks}"
            )
        if self.output_margin < 0:
            raise UserInputError(f"output margin must not be negative, got {self.output_margin}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ForecastRow:
    strategy: Strategy
    blocks: int
    calls: int
    usage: Usage
    cost: Money
    ratio: float | None
    """Cost of (a) / cost of this row; None when this row costs nothing."""
    notes: tuple[str, ...] = field(default=())


@dataclass(slots=True)
class _Tier:
    """Running sums for the calls of one strategy that fall in one price tier."""

    calls: int = 0
    input: int = 0
    output: int = 0


def forecast(
    *,
    prefix_tokens: int,
    block_tokens: Iterable[int],
    output_tokens: Iterable[int],
    prices: ModelPrices,
    context_window: int,
    max_output: int,
    min_cacheable: int,
    bounds: PackBounds | None = None,
    batch: bool = False,
) -> list[ForecastRow]:
    """Rows (a), (b), (c) for blocks whose input and estimated output tokens are given.

    ``block_tokens`` and ``output_tokens`` are consumed once, in step; they must be the same
    length. A pack's input budget is the context window less the prefix and ``max_output``
    (the output reserved for a call).
    """
    bounds = bounds or PackBounds()
    input_budget = context_window - prefix_tokens - max_output
    if prefix_tokens < 0 or input_budget <= 0:
        raise UserInputError(
            f"a prefix of {prefix_tokens:,} tokens and {max_output:,} reserved for output "
            f"leave no room for blocks in a context window of {context_window:,} tokens"
        )
    output_cap = int(max_output / (1 + bounds.output_margin))
    threshold = prices.long_context_threshold
    # A per-block call is long when prefix + block exceeds the threshold.
    block_limit = None if threshold is None else threshold - prefix_tokens
    single = [_Tier(), _Tier()]  # (a) and (b) share their calls: [normal, long]
    packs = [_Tier(), _Tier()]
    first_single_long: bool | None = None
    first_pack_long: bool | None = None
    oversized = short_packs = blocks = 0
    max_blocks = bounds.max_blocks
    pack_n = pack_in = pack_out = 0
    try:
        for tokens, output in zip(block_tokens, output_tokens, strict=True):
            if tokens < 0 or output < 0:
                raise UserInputError(f"block {blocks}: token counts must not be negative")
            blocks += 1
            tier = single[block_limit is not None and tokens > block_limit]
            tier.calls += 1
            tier.input += tokens
            tier.output += output
            if first_single_long is None:
                first_single_long = tier is single[1]
            if tokens > input_budget:
                oversized += 1
            if pack_n and (
                pack_n == max_blocks
                or pack_in + tokens > input_budget
                or pack_out + output > output_cap
            ):
                long = threshold is not None and prefix_tokens + pack_in > threshold
                pack = packs[long]
                pack.calls += 1
                pack.input += pack_in
                pack.output += pack_out
                if first_pack_long is None:
                    first_pack_long = long
                short_packs += pack_n < bounds.min_blocks
                pack_n = pack_in = pack_out = 0
            pack_n += 1
            pack_in += tokens
            pack_out += output
    except ValueError as error:  # zip(strict=True): the two iterables differ in length
        raise UserInputError(f"block and output token counts differ in length: {error}") from None
    if pack_n:
        long = threshold is not None and prefix_tokens + pack_in > threshold
        packs[long].calls += 1
        packs[long].input += pack_in
        packs[long].output += pack_out
        if first_pack_long is None:
            first_pack_long = long

    caching = prefix_tokens >= min_cacheable
    no_cache: list[str] = []
    if not caching:
        no_cache.append(
            f"no caching: the prefix ({prefix_tokens:,} tokens) is below the model's minimum "
            f"cacheable length ({min_cacheable:,})"
        )
    pack_notes = list(no_cache)
    if oversized:
        pack_notes.append(f"blocks over the input budget of {input_budget:,} alone: {oversized:,}")
    if short_packs:
        pack_notes.append(
            f"packs a budget closed below {bounds.min_blocks} blocks: {short_packs:,}"
        )
    priced = [
        (Strategy.PER_BLOCK, _price(single, None, prefix_tokens, prices, batch), []),
        (
            Strategy.CACHED,
            _price(single, first_single_long if caching else None, prefix_tokens, prices, batch),
            no_cache,
        ),
        (
            Strategy.PACKED,
            _price(packs, first_pack_long if caching else None, prefix_tokens, prices, batch),
            pack_notes,
        ),
    ]
    baseline = priced[0][1][1].total
    return [
        ForecastRow(
            strategy=strategy,
            blocks=blocks,
            calls=tiers[0].calls + tiers[1].calls,
            usage=usage,
            cost=money,
            ratio=float(baseline / money.total) if money.total else None,
            notes=tuple(notes),
        )
        for (strategy, (usage, money), notes), tiers in zip(
            priced, (single, single, packs), strict=True
        )
    ]


def _price(
    tiers: list[_Tier], write_in_long: bool | None, prefix: int, prices: ModelPrices, batch: bool
) -> tuple[Usage, Money]:
    """Tokens and cost of one strategy; ``write_in_long`` is None without caching, else the
    tier of the first call, the one that writes the prefix."""
    usage = Usage()
    money = Money()
    for long, tier in ((False, tiers[0]), (True, tiers[1])):
        if write_in_long is None:
            tokens = Usage(uncached_input=tier.calls * prefix + tier.input, output=tier.output)
        else:
            writes = int(tier.calls > 0 and write_in_long is long)
            written = writes * prefix
            tokens = Usage(
                uncached_input=tier.input,
                cache_write_5m=0 if batch else written,
                cache_write_1h=written if batch else 0,
                cache_read=(tier.calls - writes) * prefix,
                output=tier.output,
            )
        usage += tokens
        money += price_usage(tokens, prices, batch=batch, long=long)
    return usage, money


def render_forecast(rows: Sequence[ForecastRow], *, title: str = "") -> str:
    """The rows as fixed-width plain text, notes under the table."""
    lines = [title] if title else []
    lines.append(
        f"{'strategy':<20}{'calls':>12}{'uncached in':>15}{'cache write':>14}"
        f"{'cache read':>15}{'output':>13}{'cost':>16}  vs one call per block"
    )
    for row in rows:
        tokens = row.usage
        lines.append(
            f"{row.strategy.value:<20}{row.calls:>12,}{tokens.uncached_input:>15,}"
            f"{tokens.cache_write:>14,}{tokens.cache_read:>15,}{tokens.output:>13,}"
            f"{usd(row.cost.total):>16}  "
            + ("(baseline)" if row.strategy is Strategy.PER_BLOCK else describe_ratio(row.ratio))
        )
    for row in rows:
        lines.extend(f"{row.strategy.value}: {note}" for note in row.notes)
    return "\n".join(lines) + "\n"
