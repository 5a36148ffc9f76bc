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
from blockpass.ledger import Money, price_usage
from blockpass.prices import ModelPrices
from blockpass.report_text import describe_ratio, usd
from blockpass.usage import Usage

__all__ = [
    "FORECAST_COLUMNS",
    "ForecastRow",
    "PackBounds",
    "Strategy",
    "forecast",
    "forecast_cells",
    "render_forecast",
]


class Strategy(StrEnum):
    PER_BLOCK = "one call per block"
    PREFILTERED = "+ pre-filter"
    REUSED = "+ reuse"
    RULES = "+ rule engine"
    CACHED = "+ prompt caching"
    PACKED = "+ packing"


@dataclass(frozen=True, slots=True, kw_only=True)
class PackBounds:
    """Blocks per pack, and the safety margin on estimated output.

    A pack's estimated output times ``1 + output_margin`` must fit the model's max output:
    estimates are rough and a truncated pack is paid for and then re-sent. The default 1.0
    matches the runner, which asks for twice the estimate (``layout.OUTPUT_HEADROOM``). Greedy
    in-order
    packing fills a pack to ``max_blocks`` unless a budget stops it, so ``min_blocks`` shows
    up only as a count of packs the budgets forced below it.
    """

    min_blocks: int = 10
    max_blocks: int = 40
    output_margin: float = 1.0

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

    def add(self, tokens: int, output: int) -> None:
        self.calls += 1
        self.input += tokens
        self.output += output


@dataclass(slots=True)
class _Scan:
    """One pass over the blocks. Tiers are indexed by ``long`` (False: normal prices)."""

    blocks: int = 0
    single: tuple[_Tier, _Tier] = field(default_factory=lambda: (_Tier(), _Tier()))
    packs: tuple[_Tier, _Tier] = field(default_factory=lambda: (_Tier(), _Tier()))
    # The first call writes the prefix, so its tier is the one that pays for the write.
    first_single_long: bool = False
    first_pack_long: bool = False
    oversized: int = 0
    short_packs: int = 0


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
    output_cap: int | None = None,
    batch: bool = False,
) -> list[ForecastRow]:
    """Rows (a), (b), (c) for blocks whose input and estimated output tokens are given.

    ``block_tokens`` and ``output_tokens`` are consumed once, in step; they must be the same
    length. A pack's input budget is the context window less the prefix and ``max_output``
    (the output reserved for a call), as in the runner. ``output_cap``, the most estimated
    output one pack may carry, defaults to ``max_output / (1 + bounds.output_margin)``; pass
    the runner's own cap (``layout.output_cap``) to forecast exactly the packs it will build.
    """
    bounds = bounds or PackBounds()
    input_budget = context_window - prefix_tokens - max_output
    if prefix_tokens < 0 or input_budget <= 0:
        raise UserInputError(
            f"a prefix of {prefix_tokens:,} tokens and {max_output:,} reserved for output "
            f"leave no room for blocks in a context window of {context_window:,} tokens"
        )
    if output_cap is None:
        output_cap = int(max_output / (1 + bounds.output_margin))
    try:
        scan = _scan(
            zip(block_tokens, output_tokens, strict=True),
            prefix=prefix_tokens,
            threshold=prices.long_context_threshold,
            input_budget=input_budget,
            output_cap=output_cap,
            bounds=bounds,
        )
    except ValueError as error:  # from zip(strict=True)
        raise UserInputError(f"block and output token counts differ in length: {error}") from None

    caching = prefix_tokens >= min_cacheable
    cache_notes: list[str] = []
    if not caching:
        cache_notes.append(
            f"no caching: the prefix ({prefix_tokens:,} tokens) is below the model's minimum "
            f"cacheable length ({min_cacheable:,})"
        )
    pack_notes = list(cache_notes)
    if scan.oversized:
        pack_notes.append(
            f"blocks over the input budget ({input_budget:,}) or output cap "
            f"({output_cap:,}) alone, which the runner refuses: {scan.oversized:,}"
        )
    if scan.short_packs:
        pack_notes.append(
            f"packs a budget closed below {bounds.min_blocks} blocks: {scan.short_packs:,}"
        )
    plans: tuple[tuple[Strategy, tuple[_Tier, _Tier], bool | None, list[str]], ...] = (
        (Strategy.PER_BLOCK, scan.single, None, []),
        (Strategy.CACHED, scan.single, scan.first_single_long if caching else None, cache_notes),
        (Strategy.PACKED, scan.packs, scan.first_pack_long if caching else None, pack_notes),
    )
    rows: list[ForecastRow] = []
    for strategy, tiers, write_in_long, notes in plans:
        usage, money = _price(tiers, write_in_long, prefix_tokens, prices, batch)
        baseline = rows[0].cost.total if rows else money.total
        rows.append(
            ForecastRow(
                strategy=strategy,
                blocks=scan.blocks,
                calls=tiers[0].calls + tiers[1].calls,
                usage=usage,
                cost=money,
                ratio=float(baseline / money.total) if money.total else None,
                notes=tuple(notes),
            )
        )
    return rows


def _scan(
    pairs: Iterable[tuple[int, int]],
    *,
    prefix: int,
    threshold: int | None,
    input_budget: int,
    output_cap: int,
    bounds: PackBounds,
) -> _Scan:
    # The hot loop of a million-block estimate: locals and plain ints only; one-block calls
    # are summed in total and the rare long ones apart, normal = total - long at the end.
    scan = _Scan()
    # A call is long when prefix + its blocks exceed the threshold.
    limit = threshold - prefix if threshold is not None else None
    max_blocks, min_blocks = bounds.max_blocks, bounds.min_blocks
    blocks = total_in = total_out = long_calls = long_in = long_out = 0
    oversized = short_packs = pack_n = pack_in = pack_out = 0
    for tokens, output in pairs:
        if tokens < 0 or output < 0:
            raise UserInputError(f"block {blocks}: token counts must not be negative")
        if limit is not None and tokens > limit:
            if not blocks:
                scan.first_single_long = True
            long_calls += 1
            long_in += tokens
            long_out += output
        blocks += 1
        total_in += tokens
        total_out += output
        if tokens > input_budget or output > output_cap:
            oversized += 1
        if pack_n and (
            pack_n == max_blocks
            or pack_in + tokens > input_budget
            or pack_out + output > output_cap
        ):
            _close_pack(scan, pack_in, pack_out, limit)
            short_packs += pack_n < min_blocks
            pack_n = pack_in = pack_out = 0
        pack_n += 1
        pack_in += tokens
        pack_out += output
    if pack_n:
        _close_pack(scan, pack_in, pack_out, limit)
    scan.single = (
        _Tier(calls=blocks - long_calls, input=total_in - long_in, output=total_out - long_out),
        _Tier(calls=long_calls, input=long_in, output=long_out),
    )
    scan.blocks, scan.oversized, scan.short_packs = blocks, oversized, short_packs
    return scan


def _close_pack(scan: _Scan, pack_in: int, pack_out: int, limit: int | None) -> None:
    long = limit is not None and pack_in > limit
    if not (scan.packs[0].calls or scan.packs[1].calls):
        scan.first_pack_long = long
    scan.packs[long].add(pack_in, pack_out)


def _price(
    tiers: tuple[_Tier, _Tier],
    write_in_long: bool | None,
    prefix: int,
    prices: ModelPrices,
    batch: bool,
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


FORECAST_COLUMNS = (
    "strategy",
    "calls",
    "uncached in",
    "cache write",
    "cache read",
    "output",
    "cost",
    "vs one call per block",
)


def forecast_cells(rows: Sequence[ForecastRow]) -> tuple[list[tuple[str, ...]], list[str]]:
    """Each row's cells under ``FORECAST_COLUMNS``, and the notes that go under the table."""
    cells: list[tuple[str, ...]] = [
        (
            row.strategy.value,
            f"{row.calls:,}",
            f"{row.usage.uncached_input:,}",
            f"{row.usage.cache_write:,}",
            f"{row.usage.cache_read:,}",
            f"{row.usage.output:,}",
            usd(row.cost.total),
            "(baseline)" if row.strategy is Strategy.PER_BLOCK else describe_ratio(row.ratio),
        )
        for row in rows
    ]
    notes = [f"{row.strategy.value}: {note}" for row in rows for note in row.notes]
    return cells, notes


def render_forecast(rows: Sequence[ForecastRow], *, title: str = "") -> str:
    """The rows as fixed-width plain text, notes under the table."""
    widths = (12, 15, 14, 15, 13, 16)
    cells, notes = forecast_cells(rows)
    lines = [title] if title else []
    for label, *numbers, versus in [FORECAST_COLUMNS, *cells]:
        figures = "".join(f"{cell:>{width}}" for cell, width in zip(numbers, widths, strict=True))
        lines.append(f"{label:<20}{figures}  {versus}")
    return "\n".join([*lines, *notes]) + "\n"
