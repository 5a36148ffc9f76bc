"""Calls whose outcome is unknown: priced at their upper bound, shown apart from what was paid."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from blockpass.ledger import InterruptedCall, Ledger, LedgerCall, upper_bound
from blockpass.prices import PriceTable, load_prices
from blockpass.report_text import render_table
from blockpass.usage import Usage

SONNET = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_prices()


@pytest.mark.parametrize(
    ("cache_ttl", "expected"),
    [
        # 10,000 × $3.00/M uncached input (dearer than a $0.30/M read) + 2,000 × $15.00/M.
        ("", Decimal("0.06")),
        # The 5-minute write is the dearest class: 10,000 × $3.75/M + $0.03.
        ("5m", Decimal("0.0675")),
        # The 1-hour write: 10,000 × $6.00/M + $0.03.
        ("1h", Decimal("0.09")),
    ],
)
def test_an_interrupted_call_is_priced_at_its_dearest_input_class_and_its_whole_output_cap(
    table: PriceTable, cache_ttl: str, expected: Decimal
) -> None:
    call = InterruptedCall(model=SONNET, input_tokens=10_000, max_output=2_000, cache_ttl=cache_ttl)
    assert upper_bound(call, table.for_model(SONNET)) == expected


def test_an_interrupted_call_above_the_long_prompt_threshold_is_bounded_at_long_prices(
    table: PriceTable,
) -> None:
    prices = table.for_model("claude-haiku-5-5")
    # 100,001 × $0.10/M × 5 + 1,000 × $0.50/M × 5 = $0.0500005 + $0.0025.
    long = InterruptedCall(model="claude-haiku-5-5", input_tokens=100_001, max_output=1_000)
    assert upper_bound(long, prices) == Decimal("0.0525005")
    # 100,000 × $0.10/M + 1,000 × $0.50/M.
    short = InterruptedCall(model="claude-haiku-5-5", input_tokens=100_000, max_output=1_000)
    assert upper_bound(short, prices) == Decimal("0.0105")


def test_the_report_shows_interrupted_calls_apart_and_what_the_run_cost_at_most(
    table: PriceTable,
) -> None:
    ledger = Ledger(table, prefix_tokens=1_000)
    ledger.record(LedgerCall(model=SONNET, usage=Usage(uncached_input=1_000_000)))  # $3.00
    ledger.record_interrupted(
        InterruptedCall(model=SONNET, input_tokens=10_000, max_output=2_000, pack_id="p7")
    )

    report = ledger.report()

    assert report.calls == 1
    assert report.actual.total == Decimal("3.00")
    assert report.interrupted_at_most == Decimal("0.06")
    assert report.at_most == Decimal("3.06")
    payload = json.loads(json.dumps(report.to_json()))
    assert payload["calls"] == 1
    assert payload["interrupted_calls"] == 1
    assert Decimal(payload["interrupted_usd_at_most"]) == Decimal("0.06")
    assert Decimal(payload["at_most_usd"]) == Decimal("3.06")
    assert payload["interrupted"][0]["pack_id"] == "p7"
    assert Decimal(payload["interrupted"][0]["usd_at_most"]) == Decimal("0.06")
    table_text = render_table(report)
    assert "1 call, outcome unknown: at most $0.060000" in table_text
    assert "$3.060000" in table_text


def test_a_report_without_interrupted_calls_says_nothing_of_them(table: PriceTable) -> None:
    ledger = Ledger(table, prefix_tokens=1_000)
    ledger.record(LedgerCall(model=SONNET, usage=Usage(uncached_input=1_000)))
    report = ledger.report()
    assert report.to_json()["interrupted_calls"] == 0
    assert report.at_most == report.actual.total
    assert "interrupted" not in render_table(report)
