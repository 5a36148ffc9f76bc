"""Model prices: the shipped ``prices.toml``, merged with the user's own file.

Prices are kept as ``Decimal`` USD per million tokens, parsed straight from the TOML text
(``parse_float=Decimal``) so that ``0.10`` is exactly one tenth and sums of many calls do not
drift. A user file replaces or adds whole models: each model table must be complete, because
a half-updated model (new input price, old cache prices) would be silently wrong.

Every problem in a price file is a ``UserInputError`` whose one line names the file and,
when there is one, the model.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from blockpass.errors import UserInputError
from blockpass.files import read_text
from blockpass.usage import TokenClass

__all__ = ["ModelPrices", "PriceTable", "load_prices", "zero_prices"]

SHIPPED_NAME = "prices.toml"
_PRICE_KEYS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
_REQUIRED_KEYS = ("provider", *_PRICE_KEYS, "batch_discount")
_LONG_KEYS = (
    "long_context_threshold",
    "long_context_input_multiplier",
    "long_context_output_multiplier",
)
_MODEL_KEYS = frozenset((*_REQUIRED_KEYS, *_LONG_KEYS))
_TOP_KEYS = frozenset(("read_on", "source", "models"))
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelPrices:
    """One model's prices in USD per million tokens.

    ``batch_discount`` is the fraction taken off every token class in a batch. A call whose
    whole prompt exceeds ``long_context_threshold`` has every input class multiplied by
    ``long_context_input_multiplier`` and its output by ``long_context_output_multiplier``.
    ``read_on`` is the date of the file the prices came from, None if that file gave none.
    """

    model: str
    provider: str
    input: Decimal
    output: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    batch_discount: Decimal
    long_context_threshold: int | None = None
    long_context_input_multiplier: Decimal = _ONE
    long_context_output_multiplier: Decimal = _ONE
    read_on: date | None = None

    def is_long(self, prompt_tokens: int) -> bool:
        threshold = self.long_context_threshold
        return threshold is not None and prompt_tokens > threshold

    def per_million(self, token_class: TokenClass, *, batch: bool, long: bool) -> Decimal:
        """USD per million tokens of one class, with the batch and long-prompt factors."""
        base: Decimal = getattr(self, _PRICE_ATTR[token_class])
        if long:
            if token_class is TokenClass.OUTPUT:
                base *= self.long_context_output_multiplier
            else:
                base *= self.long_context_input_multiplier
        if batch:
            base *= _ONE - self.batch_discount
        return base


_PRICE_ATTR = {
    TokenClass.UNCACHED_INPUT: "input",
    TokenClass.CACHE_WRITE_5M: "cache_write_5m",
    TokenClass.CACHE_WRITE_1H: "cache_write_1h",
    TokenClass.CACHE_READ: "cache_read",
    TokenClass.OUTPUT: "output",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTable:
    read_on: date | None
    source: str
    models: Mapping[str, ModelPrices]

    def for_model(self, model_id: str) -> ModelPrices:
        prices = self.models.get(model_id)
        if prices is None:
            raise UserInputError(
                f"no prices for model {model_id}: add it to a price file given with --prices"
            )
        return prices

    def pricing(self, model_id: str, card: ModelPrices, note: str) -> PriceTable:
        """This table with ``model_id`` priced by ``card``, and ``note`` saying why."""
        return PriceTable(
            read_on=self.read_on,
            source=f"{self.source}; {note}",
            models={**self.models, model_id: replace(card, model=model_id)},
        )


def zero_prices(model_id: str, provider: str) -> ModelPrices:
    """The card of a model nobody bills for: a local model, a self-hosted server."""
    free = Decimal(0)
    return ModelPrices(
        model=model_id,
        provider=provider,
        input=free,
        output=free,
        cache_write_5m=free,
        cache_write_1h=free,
        cache_read=free,
        batch_discount=free,
    )


def load_prices(override: Path | None = None) -> PriceTable:
    """The shipped price table, with ``override``'s models replacing or adding to it."""
    shipped_text = resources.files(__package__).joinpath(SHIPPED_NAME).read_text("utf-8")
    table = _parse(shipped_text, f"{__package__}/{SHIPPED_NAME} (shipped)")
    if override is None:
        return table
    text = read_text(override, what="a price file")
    extra = _parse(text, str(override))
    return PriceTable(
        read_on=extra.read_on if extra.read_on is not None else table.read_on,
        source=f"{table.source}; overridden by {override}" if extra.models else table.source,
        models={**table.models, **extra.models},
    )


def job_prices(
    model_id: str,
    provider: str,
    *,
    price_file: Path | None = None,
    price_as: str | None = None,
    stated_profile: bool = False,
) -> PriceTable:
    """The price table, with the job's model priced as asked, or at zero when unknown.

    A model whose profile the user stated (one on a compatible server) has no list price: it
    is priced at zero unless the price file or ``price_as`` says otherwise, and the report's
    provider line shows the card used.
    """
    prices = load_prices(price_file)
    if price_as:
        card = prices.for_model(price_as)
        return prices.pricing(model_id, card, f"{model_id} priced as {price_as}")
    if model_id not in prices.models and stated_profile:
        card = zero_prices(model_id, provider)
        return prices.pricing(model_id, card, f"{model_id} priced at zero")
    prices.for_model(model_id)
    return prices


def _parse(text: str, origin: str) -> PriceTable:
    try:
        raw = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as error:
        raise UserInputError(f"{origin}: not valid TOML: {error}") from None
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise UserInputError(f"{origin}: unknown key {unknown[0]!r} (expected {_expected()})")
    read_on = _read_on(raw.get("read_on"), origin)
    source = raw.get("source", origin)
    if not isinstance(source, str):
        raise UserInputError(f"{origin}: 'source' must be a string")
    models = raw.get("models", {})
    if not isinstance(models, dict):
        raise UserInputError(f"{origin}: 'models' must be a table of [models.\"<model id>\"]")
    parsed = {
        model_id: _model(model_id, facts, origin, read_on) for model_id, facts in models.items()
    }
    return PriceTable(read_on=read_on, source=source, models=parsed)


def _expected() -> str:
    return ", ".join(sorted(_TOP_KEYS))


def _read_on(value: object, origin: str) -> date | None:
    if value is None or (isinstance(value, date) and not hasattr(value, "hour")):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise UserInputError(f"{origin}: 'read_on' must be a date like \"2026-11-01\", got {value!r}")


def _model(model_id: str, facts: Any, origin: str, read_on: date | None) -> ModelPrices:
    where = f"{origin}: model {model_id!r}"
    if not isinstance(facts, dict):
        raise UserInputError(f"{where}: expected a table of prices")
    unknown = sorted(set(facts) - _MODEL_KEYS)
    if unknown:
        raise UserInputError(f"{where}: unknown key {unknown[0]!r}")
    missing = [key for key in _REQUIRED_KEYS if key not in facts]
    if missing:
        raise UserInputError(f"{where}: missing {', '.join(repr(key) for key in missing)}")
    provider = facts["provider"]
    if not isinstance(provider, str) or not provider:
        raise UserInputError(f"{where}: 'provider' must be a non-empty string")
    prices = {key: _amount(facts[key], key, where) for key in _PRICE_KEYS}
    discount = _amount(facts["batch_discount"], "batch_discount", where)
    if discount > _ONE:
        raise UserInputError(f"{where}: 'batch_discount' is a fraction from 0 to 1, got {discount}")
    threshold = facts.get("long_context_threshold")
    multipliers = {key: _amount(facts[key], key, where) for key in _LONG_KEYS[1:] if key in facts}
    if threshold is None and multipliers:
        raise UserInputError(f"{where}: long-context multipliers need 'long_context_threshold'")
    if threshold is not None and (
        isinstance(threshold, bool) or not isinstance(threshold, int) or threshold <= 0
    ):
        raise UserInputError(
            f"{where}: 'long_context_threshold' must be a positive whole number of tokens"
        )
    return ModelPrices(
        model=model_id,
        provider=provider,
        input=prices["input"],
        output=prices["output"],
        cache_write_5m=prices["cache_write_5m"],
        cache_write_1h=prices["cache_write_1h"],
        cache_read=prices["cache_read"],
        batch_discount=discount,
        long_context_threshold=threshold,
        long_context_input_multiplier=multipliers.get(_LONG_KEYS[1], _ONE),
        long_context_output_multiplier=multipliers.get(_LONG_KEYS[2], _ONE),
        read_on=read_on,
    )


def _amount(value: object, key: str, where: str) -> Decimal:
    # bool is an int subclass: `input = true` must not become one dollar.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise UserInputError(f"{where}: {key!r} must be a number, got {value!r}")
    amount = Decimal(value)
    if not amount.is_finite() or amount < 0:
        raise UserInputError(f"{where}: {key!r} must not be negative, got {value}")
    return amount
