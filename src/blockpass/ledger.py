"""Money from recorded usage: actual cost by token class, the baseline, and the report
(rendered as text by ``report_text.py``).

Money is ``decimal.Decimal`` US dollars, exact: a price per million tokens from the price file
(itself parsed as ``Decimal``) times a whole number of tokens, shifted six places, needs no
rounding, so the sum of any number of calls is the exact sum. Rounding happens only when a
report is rendered. The one inexact figure is the baseline's output when a call's output is
shared among blocks that land in different price tiers or are dropped as duplicates: the
shares are kept as exact fractions and converted to ``Decimal`` (28 significant digits) once.

The baseline is the obvious approach applied to the same processed blocks: one uncached,
realtime call per block with the full prefix (instructions + guide + schema) followed by that
block, input counted with the same tokenizer as the run, and as output the block's share of
the output of the call that produced its result (call output / blocks it returned results
for). It is priced with the prices of the model that processed the block, including that
model's long-prompt tier for the baseline call's own prompt size.

An interrupted call (sent, or about to be, and never answered as far as the store knows) has
no usage. It is priced at its upper bound: its whole input at the dearest input class it
could be billed in (uncached input, a cache read, or a cache write of its breakpoint's TTL)
and ``max_tokens`` of output, in the long-prompt tier if its input is above the threshold.
The report shows these apart, and ``at_most`` = actual + interrupted calls at their bound.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction

from blockpass.prices import ModelPrices, PriceTable
from blockpass.usage import TokenClass, Usage

__all__ = [
    "OK",
    "TOOL_TURN",
    "CostReport",
    "InterruptedCall",
    "Ledger",
    "LedgerCall",
    "Money",
    "StatusLine",
    "cost",
    "price_usage",
    "upper_bound",
]

OK = "ok"
TRUNCATED = "truncated"
# A tool loop's turn that asked for tools (``execution/tool_turns.py``): work towards the
# answer, not a retry.
TOOL_TURN = "tool_turn"
WORKING = frozenset({OK, TOOL_TURN})
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Money:
    """US dollars per token class, as exact ``Decimal`` values."""

    uncached_input: Decimal = _ZERO
    cache_write_5m: Decimal = _ZERO
    cache_write_1h: Decimal = _ZERO
    cache_read: Decimal = _ZERO
    output: Decimal = _ZERO

    @property
    def total(self) -> Decimal:
        return sum(self.by_class().values(), _ZERO)

    def by_class(self) -> dict[TokenClass, Decimal]:
        return {token_class: getattr(self, token_class.value) for token_class in TokenClass}

    def __add__(self, other: Money) -> Money:
        return Money(
            uncached_input=self.uncached_input + other.uncached_input,
            cache_write_5m=self.cache_write_5m + other.cache_write_5m,
            cache_write_1h=self.cache_write_1h + other.cache_write_1h,
            cache_read=self.cache_read + other.cache_read,
            output=self.output + other.output,
        )


def price_usage(usage: Usage, prices: ModelPrices, *, batch: bool, long: bool) -> Money:
    """The cost of ``usage`` in a known price tier (``long``: above the long-prompt threshold).

    Pricing is linear in tokens, so usage summed over calls of one tier prices exactly as
    the sum of the calls priced one by one.
    """
    amounts = {
        token_class.value: (
            Decimal(tokens) * prices.per_million(token_class, batch=batch, long=long)
        ).scaleb(-6)
        for token_class, tokens in usage.by_class().items()
    }
    return Money(**amounts)


def cost(
    usage: Usage, prices: ModelPrices, *, batch: bool, prompt_tokens: int | None = None
) -> Money:
    """One call's cost. ``prompt_tokens`` (default: the usage's whole input) picks the tier."""
    prompt = usage.input_total if prompt_tokens is None else prompt_tokens
    return price_usage(usage, prices, batch=batch, long=prices.is_long(prompt))


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerCall:
    """One provider call as the ledger needs it, paid whether or not it produced results.

    ``results`` maps each block this call produced a result for to that block's own rendered
    input tokens (without the prefix). ``prefix_tokens`` is the full-guide prefix counted
    with this call's tokenizer, when it differs from the ledger's default.
    """

    model: str
    usage: Usage
    batch: bool = False
    status: str = OK
    prompt_tokens: int | None = None
    results: Mapping[str, int] = field(default_factory=dict)
    prefix_tokens: int | None = None
    resubmission: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class InterruptedCall:
    """A realtime call whose outcome is unknown: what bounds its cost, and which it was.

    ``cache_ttl`` is its breakpoint's TTL ("5m", "1h"), or "" when it had none.
    """

    model: str
    input_tokens: int
    max_output: int
    cache_ttl: str = ""
    pack_id: str = ""
    attempt: int = 0


_WRITE_CLASS = {"5m": TokenClass.CACHE_WRITE_5M, "1h": TokenClass.CACHE_WRITE_1H}


def upper_bound(call: InterruptedCall, prices: ModelPrices) -> Decimal:
    """The most an interrupted call can have cost (module docstring)."""
    long = prices.is_long(call.input_tokens)
    classes = [TokenClass.UNCACHED_INPUT, TokenClass.CACHE_READ]
    classes += [_WRITE_CLASS[call.cache_ttl]] if call.cache_ttl in _WRITE_CLASS else []
    input_rate = max(prices.per_million(c, batch=False, long=long) for c in classes)
    output_rate = prices.per_million(TokenClass.OUTPUT, batch=False, long=long)
    return (input_rate * call.input_tokens + output_rate * call.max_output).scaleb(-6)


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusLine:
    calls: int
    usage: Usage
    cost: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class CostReport:
    """What a run cost, next to what one uncached call per block would have cost.

    ``baseline_usage.output`` is rounded to whole tokens; ``baseline`` is priced from the
    exact shares. ``duplicate_results`` counts results for blocks already processed by an
    earlier call: they are paid for but not counted again in the baseline.
    """

    models: tuple[ModelPrices, ...]
    read_on: date | None
    calls: int
    batch_calls: int
    blocks: int
    duplicate_results: int
    usage: Usage
    actual: Money
    baseline_usage: Usage
    baseline: Money
    by_status: Mapping[str, StatusLine]
    served_by: str = ""
    batch_usage: Usage = field(default_factory=Usage)
    batch_cost: Money = field(default_factory=Money)
    # The same recorded usage priced as if every call had gone one way: what the job would
    # have cost in realtime mode and in batch mode, cache hits as they were.
    all_realtime: Decimal = Decimal(0)
    all_batch: Decimal = Decimal(0)
    # Batch items sent again after their first batch left them errored, expired or canceled.
    resubmitted_calls: int = 0
    resubmitted_cost: Decimal = Decimal(0)
    # Calls whose outcome is unknown, each with its upper bound; not in ``calls``/``actual``.
    interrupted: tuple[tuple[InterruptedCall, Decimal], ...] = ()

    @property
    def interrupted_at_most(self) -> Decimal:
        return sum((bound for _, bound in self.interrupted), _ZERO)

    @property
    def at_most(self) -> Decimal:
        """What the run may have cost: actual, plus interrupted calls at their upper bound."""
        return self.actual.total + self.interrupted_at_most

    @property
    def ratio(self) -> float | None:
        """Baseline / actual: how many times cheaper the run was."""
        if self.actual.total == 0:
            return None
        return float(self.baseline.total / self.actual.total)

    @property
    def cache_hit_ratio(self) -> float | None:
        """The share of cacheable prefix tokens that were cache reads."""
        cacheable = self.usage.cache_read + self.usage.cache_write
        return self.usage.cache_read / cacheable if cacheable else None

    @property
    def batch_cache_hit_ratio(self) -> float | None:
        cacheable = self.batch_usage.cache_read + self.batch_usage.cache_write
        return self.batch_usage.cache_read / cacheable if cacheable else None

    @property
    def output_per_block(self) -> float | None:
        """Output tokens per block the model answered (retries and truncations included)."""
        return self.usage.output / self.blocks if self.blocks else None

    @property
    def truncation(self) -> StatusLine:
        """The calls whose answer was cut at max_tokens: paid for in full, though the
        results they hold before the cut are kept."""
        return self.by_status.get(TRUNCATED, StatusLine(calls=0, usage=Usage(), cost=Money()))

    @property
    def truncation_share(self) -> float:
        """The truncated calls' share of what the run cost."""
        total = self.actual.total
        return float(self.truncation.cost.total / total) if total else 0.0

    @property
    def retry_calls(self) -> int:
        return sum(line.calls for status, line in self.by_status.items() if status not in WORKING)

    @property
    def retry_cost(self) -> Money:
        """What calls that neither answered nor asked for tools cost: retries, truncations,
        errors with usage."""
        lines = (line.cost for status, line in self.by_status.items() if status not in WORKING)
        return sum(lines, Money())

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict; dollar amounts are exact decimal strings."""
        return {
            "served_by": self.served_by,
            "models": [
                {
                    "model": prices.model,
                    "provider": prices.provider,
                    "prices_read_on": _iso(prices.read_on),
                }
                for prices in self.models
            ],
            "prices_read_on": _iso(self.read_on),
            "calls": self.calls,
            "batch_calls": self.batch_calls,
            "blocks": self.blocks,
            "duplicate_results": self.duplicate_results,
            "tokens": _tokens_json(self.usage),
            "actual_usd": _money_json(self.actual),
            "baseline_tokens": _tokens_json(self.baseline_usage),
            "baseline_usd": _money_json(self.baseline),
            "ratio": self.ratio,
            "cache_hit_ratio": self.cache_hit_ratio,
            "batch_tokens": _tokens_json(self.batch_usage),
            "batch_usd": _money_json(self.batch_cost),
            "batch_cache_hit_ratio": self.batch_cache_hit_ratio,
            "all_realtime_usd": _usd_json(self.all_realtime),
            "all_batch_usd": _usd_json(self.all_batch),
            "resubmitted_calls": self.resubmitted_calls,
            "resubmitted_usd": _usd_json(self.resubmitted_cost),
            "interrupted_calls": len(self.interrupted),
            "interrupted_usd_at_most": _usd_json(self.interrupted_at_most),
            "at_most_usd": _usd_json(self.at_most),
            "interrupted": [
                {
                    "pack_id": call.pack_id,
                    "model": call.model,
                    "attempt": call.attempt,
                    "input_tokens": call.input_tokens,
                    "max_output": call.max_output,
                    "usd_at_most": _usd_json(bound),
                }
                for call, bound in self.interrupted
            ],
            "retry_calls": self.retry_calls,
            "retry_usd": _usd_json(self.retry_cost.total),
            "output_tokens_per_block": self.output_per_block,
            "truncation_calls": self.truncation.calls,
            "truncation_usd": _usd_json(self.truncation.cost.total),
            "truncation_share": self.truncation_share,
            "by_status": {
                status: {
                    "calls": line.calls,
                    "tokens": _tokens_json(line.usage),
                    "usd": _usd_json(line.cost.total),
                }
                for status, line in sorted(self.by_status.items())
            },
        }


# The hosted model a run priced at zero is priced again as, to show what blockpass saves.
WHAT_IF_MODEL = "claude-sonnet-4-5"


@dataclass(frozen=True, slots=True, kw_only=True)
class WhatIf:
    """A run's recorded usage priced with another model's card: a what-if, not a bill."""

    model: str
    report: CostReport

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "note": "the same recorded usage priced as this model; nothing was billed",
            "actual_usd": _usd_json(self.report.actual.total),
            "baseline_usd": _usd_json(self.report.baseline.total),
            "ratio": self.report.ratio,
        }


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _usd_json(amount: Decimal) -> str:
    return format(amount, "f")


def _tokens_json(usage: Usage) -> dict[str, int]:
    return {token_class.value: tokens for token_class, tokens in usage.by_class().items()}


def _money_json(money: Money) -> dict[str, str]:
    amounts = {token_class.value: _usd_json(usd) for token_class, usd in money.by_class().items()}
    return {**amounts, "total": _usd_json(money.total)}


class Ledger:
    """Accumulates calls and builds a ``CostReport``.

    Usage is summed per (model, batch, tier, status) as calls arrive and the per-block
    baseline per (model, tier), so memory grows with the number of distinct blocks (their
    ids, to count each block once), not with the number of calls.
    """

    def __init__(self, prices: PriceTable, *, prefix_tokens: int, served_by: str = "") -> None:
        if prefix_tokens < 0:
            raise ValueError(f"prefix_tokens must not be negative, got {prefix_tokens}")
        self._prices = prices
        self._prefix_tokens = prefix_tokens
        self._served_by = served_by
        self._usage: dict[tuple[str, bool, bool, str], Usage] = {}
        self._calls: Counter[str] = Counter()
        self._batch_calls = 0
        self._resubmitted_calls = 0
        self._resubmitted_cost = Decimal(0)
        self._seen: set[str] = set()
        self._duplicates = 0
        self._baseline_input: Counter[tuple[str, bool]] = Counter()
        # Output shares: whole tokens, and the fractions left when a call's output does not
        # divide evenly among its blocks (kept apart because Fraction is slow).
        self._baseline_output: Counter[tuple[str, bool]] = Counter()
        self._baseline_output_rest: dict[tuple[str, bool], Fraction] = {}
        self._interrupted: list[tuple[InterruptedCall, Decimal]] = []

    def record_interrupted(self, call: InterruptedCall) -> None:
        self._interrupted.append((call, upper_bound(call, self._prices.for_model(call.model))))

    def record(self, call: LedgerCall) -> None:
        # Looked up now so a model without prices fails at the first call, not at the end.
        prices = self._prices.for_model(call.model)
        prompt = call.usage.input_total if call.prompt_tokens is None else call.prompt_tokens
        key = (call.model, call.batch, prices.is_long(prompt), call.status)
        previous = self._usage.get(key)
        self._usage[key] = call.usage if previous is None else previous + call.usage
        self._calls[call.status] += 1
        self._batch_calls += call.batch
        if call.resubmission:
            self._resubmitted_calls += 1
            self._resubmitted_cost += price_usage(
                call.usage, prices, batch=call.batch, long=prices.is_long(prompt)
            ).total
        if call.results:
            self._record_baseline(call, prices)

    def _record_baseline(self, call: LedgerCall, prices: ModelPrices) -> None:
        # Runs once per block of a run: plain ints, no per-block calls.
        prefix = self._prefix_tokens if call.prefix_tokens is None else call.prefix_tokens
        threshold = prices.long_context_threshold
        limit = None if threshold is None else threshold - prefix
        seen = self._seen
        counts = [0, 0]  # new blocks by tier: [normal, long]
        tokens_in = [0, 0]
        for block_id, block_tokens in call.results.items():
            if block_id in seen:
                self._duplicates += 1
                continue
            seen.add(block_id)
            long = limit is not None and block_tokens > limit
            counts[long] += 1
            tokens_in[long] += block_tokens
        for long in (False, True):
            if not counts[long]:
                continue
            key = (call.model, long)
            self._baseline_input[key] += counts[long] * prefix + tokens_in[long]
            share, rest = divmod(call.usage.output * counts[long], len(call.results))
            self._baseline_output[key] += share
            if rest:
                fraction = Fraction(rest, len(call.results))
                self._baseline_output_rest[key] = self._baseline_output_rest.get(key, 0) + fraction

    def report(self) -> CostReport:
        usage = Usage()
        actual = Money()
        statuses: dict[str, tuple[Usage, Money]] = {}
        batch_usage = Usage()
        batch_cost = Money()
        all_mode = {False: Decimal(0), True: Decimal(0)}
        for (model, batch, long, status), tokens in self._usage.items():
            prices = self._prices.for_model(model)
            money = price_usage(tokens, prices, batch=batch, long=long)
            usage += tokens
            actual += money
            for mode in all_mode:
                all_mode[mode] += price_usage(tokens, prices, batch=mode, long=long).total
            if batch:
                batch_usage += tokens
                batch_cost += money
            status_usage, status_money = statuses.get(status, (Usage(), Money()))
            statuses[status] = (status_usage + tokens, status_money + money)
        baseline_input = 0
        baseline_output = Fraction(0)
        baseline = Money()
        for key in sorted(self._baseline_input.keys() | self._baseline_output.keys()):
            model, long = key
            prices = self._prices.for_model(model)
            tokens_in = self._baseline_input[key]
            tokens_out = self._baseline_output[key] + self._baseline_output_rest.get(key, 0)
            baseline_input += tokens_in
            baseline_output += tokens_out
            baseline += price_usage(Usage(uncached_input=tokens_in), prices, batch=False, long=long)
            rate = prices.per_million(TokenClass.OUTPUT, batch=False, long=long)
            exact = rate * tokens_out.numerator / tokens_out.denominator
            baseline += Money(output=exact.scaleb(-6))
        models = sorted({model for model, *_ in self._usage})
        return CostReport(
            models=tuple(self._prices.for_model(model) for model in models),
            read_on=self._prices.read_on,
            calls=sum(self._calls.values()),
            batch_calls=self._batch_calls,
            blocks=len(self._seen),
            duplicate_results=self._duplicates,
            usage=usage,
            actual=actual,
            baseline_usage=Usage(uncached_input=baseline_input, output=round(baseline_output)),
            baseline=baseline,
            by_status={
                status: StatusLine(calls=self._calls[status], usage=tokens, cost=money)
                for status, (tokens, money) in statuses.items()
            },
            served_by=self._served_by,
            batch_usage=batch_usage,
            batch_cost=batch_cost,
            all_realtime=all_mode[False],
            all_batch=all_mode[True],
            resubmitted_calls=self._resubmitted_calls,
            resubmitted_cost=self._resubmitted_cost,
            interrupted=tuple(self._interrupted),
        )
