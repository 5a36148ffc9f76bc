from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from blockpass.errors import UserInputError
from blockpass.prices import load_prices
from blockpass.usage import TokenClass

PROVIDERS_MD_MODELS = {
    "claude-haiku-5-5",
    "claude-haiku-4-5",
    "claude-sonnet-5-5",
    "claude-sonnet-4-6",
    "claude-sonnet-4-5",
    "claude-opus-5-5",
    "claude-opus-4-6",
    "gpt-4.1-mini",
    "gpt-5-mini",
    "gpt-5.6-luna",
    "gpt-6-luna",
    "gpt-6-sol",
}

COMPLETE_MODEL = """
provider = "acme"
input = 1.5
output = 6
cache_write_5m = 1.875
cache_write_1h = 3
cache_read = 0.15
batch_discount = 0.5
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-prices.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_table_has_every_model_of_the_providers_price_tables() -> None:
    table = load_prices()
    # Plus the zero-priced local model that runs in-process.
    assert set(table.models) == PROVIDERS_MD_MODELS | {"smollm2-135m-instruct"}
    assert table.read_on == date(2026, 11, 1)
    assert "PROVIDERS.md" in table.source


def test_shipped_sonnet_4_5_prices_match_the_table_exactly() -> None:
    prices = load_prices().for_model("claude-sonnet-4-5")
    assert prices.provider == "anthropic"
    assert (prices.input, prices.output) == (Decimal("3.00"), Decimal("15.00"))
    assert (prices.cache_write_5m, prices.cache_write_1h) == (Decimal("3.75"), Decimal("6.00"))
    assert prices.cache_read == Decimal("0.30")
    assert prices.batch_discount == Decimal("0.5")
    assert prices.long_context_threshold is None


def test_older_openai_models_bill_cache_writes_as_ordinary_input() -> None:
    for model in ("gpt-4.1-mini", "gpt-5-mini"):
        prices = load_prices().for_model(model)
        assert prices.cache_write_5m == prices.input == prices.cache_write_1h


def test_openai_models_from_gpt_5_6_reprice_above_272k_and_older_ones_do_not() -> None:
    table = load_prices()
    for model in ("gpt-5.6-luna", "gpt-6-luna", "gpt-6-sol"):
        prices = table.for_model(model)
        assert prices.long_context_threshold == 272_000
        assert prices.long_context_input_multiplier == 2
        assert prices.long_context_output_multiplier == Decimal("1.5")
    assert table.for_model("gpt-5-mini").long_context_threshold is None


def test_a_batch_cache_read_costs_half_of_a_tenth_of_input() -> None:
    prices = load_prices().for_model("claude-sonnet-4-5")
    rate = prices.per_million(TokenClass.CACHE_READ, batch=True, long=False)
    assert rate == Decimal("0.5") * Decimal("0.1") * prices.input


def test_haiku_5_5_reprices_every_class_above_a_100k_prompt() -> None:
    prices = load_prices().for_model("claude-haiku-5-5")
    assert not prices.is_long(100_000)
    assert prices.is_long(100_001)
    assert prices.per_million(TokenClass.UNCACHED_INPUT, batch=False, long=True) == Decimal("0.5")
    assert prices.per_million(TokenClass.OUTPUT, batch=False, long=True) == Decimal("2.5")
    assert prices.per_million(TokenClass.CACHE_READ, batch=False, long=True) == Decimal("0.05")


def test_a_model_without_prices_names_the_model_and_the_prices_option() -> None:
    with pytest.raises(UserInputError) as caught:
        load_prices().for_model("claude-mystery-9")
    assert str(caught.value) == (
        "no prices for model claude-mystery-9: add it to a price file given with --prices"
    )


def test_an_override_adds_a_model_replaces_another_and_keeps_the_rest(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'read_on = "2026-12-05"\n'
        f'[models."acme-1"]{COMPLETE_MODEL}'
        f'[models."claude-sonnet-4-5"]{COMPLETE_MODEL.replace("acme", "anthropic")}',
    )
    table = load_prices(path)
    assert table.read_on == date(2026, 12, 5)
    assert table.for_model("acme-1").input == Decimal("1.5")
    assert table.for_model("acme-1").read_on == date(2026, 12, 5)
    assert table.for_model("claude-sonnet-4-5").output == Decimal(6)
    assert table.for_model("claude-opus-4-6").input == Decimal("5.00")
    assert table.for_model("claude-opus-4-6").read_on == date(2026, 11, 1)
    assert str(path) in table.source


def test_an_override_without_a_date_keeps_the_shipped_date(tmp_path: Path) -> None:
    table = load_prices(write(tmp_path, f'[models."acme-1"]{COMPLETE_MODEL}'))
    assert table.read_on == date(2026, 11, 1)
    assert table.for_model("acme-1").read_on is None


def test_an_override_may_describe_long_prompt_repricing(tmp_path: Path) -> None:
    extra = "long_context_threshold = 1000\nlong_context_input_multiplier = 3\n"
    prices = load_prices(write(tmp_path, f'[models."acme-1"]{COMPLETE_MODEL}{extra}')).for_model(
        "acme-1"
    )
    assert prices.is_long(1001)
    assert prices.long_context_input_multiplier == 3
    assert prices.long_context_output_multiplier == 1


def test_an_unreadable_price_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(UserInputError, match=r"nope\.toml: no such file") as caught:
        load_prices(missing)
    assert "\n" not in str(caught.value)


def test_a_price_file_with_bad_toml_names_the_file_and_the_line(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"my-prices\.toml: not valid TOML: .*line 2"):
        load_prices(write(tmp_path, '[models."acme-1"]\ninput = = 3\n'))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (COMPLETE_MODEL.replace("input = 1.5", "input = -1.5"), "'input' must not be negative"),
        (COMPLETE_MODEL.replace("output = 6\n", ""), "missing 'output'"),
        (COMPLETE_MODEL + "discount = 0.1\n", "unknown key 'discount'"),
        (COMPLETE_MODEL.replace("input = 1.5", 'input = "cheap"'), "'input' must be a number"),
        (COMPLETE_MODEL.replace("input = 1.5", "input = true"), "'input' must be a number"),
        (COMPLETE_MODEL.replace("= 0.5", "= 1.5"), "'batch_discount' is a fraction"),
        (COMPLETE_MODEL + "long_context_output_multiplier = 2\n", "need 'long_context_threshold'"),
        (COMPLETE_MODEL + "long_context_threshold = 1.5\n", "positive whole number"),
    ],
)
def test_a_bad_model_entry_names_the_file_and_the_model(
    tmp_path: Path, body: str, message: str
) -> None:
    path = write(tmp_path, f'[models."acme-1"]{body}')
    with pytest.raises(UserInputError) as caught:
        load_prices(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: model 'acme-1': ")
    assert message in text
    assert "\n" not in text


def test_an_unknown_top_level_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"my-prices\.toml: unknown key 'currency'"):
        load_prices(write(tmp_path, 'currency = "EUR"\n'))


def test_a_read_on_that_is_not_a_date_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"my-prices\.toml: 'read_on' must be a date"):
        load_prices(write(tmp_path, 'read_on = "November"\n'))


def test_every_model_blockpass_can_call_has_prices() -> None:
    from blockpass.providers.base import _profiles

    table = load_prices()
    assert [model for model in _profiles() if model not in table.models] == []
