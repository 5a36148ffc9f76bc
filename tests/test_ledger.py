from __future__ import annotations

import json
from decimal import Decimal

import pytest

from blockpass.errors import UserInputError
from blockpass.ledger import Ledger, LedgerCall, Money, cost
from blockpass.prices import PriceTable, load_prices
from blockpass.report_text import render_table
from blockpass.usage import TokenClass, Usage

SONNET = "claude-sonnet-4-5"


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return load_prices()


def test_each_token_class_is_priced_as_by_hand_for_sonnet_4_5(table: PriceTable) -> None:
    usage = Usage(
        uncached_input=1_000_000,  # × $3.00/M  = $3.00
        cache_write_5m=40_000,  #     × $3.75/M  = $0.15
        cache_write_1h=10_000,  #     × $6.00/M  = $0.06
        cache_read=500_000,  #        × $0.30/M  = $0.15
        output=3_000,  #              × $15.00/M = $0.045
    )
    money = cost(usage, table.for_model(SONNET), batch=False)
    assert money.by_class() == {
        TokenClass.UNCACHED_INPUT: Decimal("3.00"),
        TokenClass.CACHE_WRITE_5M: Decimal("0.15"),
        TokenClass.CACHE_WRITE_1H: Decimal("0.06"),
        TokenClass.CACHE_READ: Decimal("0.15"),
        TokenClass.OUTPUT: Decimal("0.045"),
    }
    assert money.total == Decimal("3.405")


def test_the_batch_discount_halves_every_class_and_stacks_with_cache_prices(
    table: PriceTable,
) -> None:
    prices = table.for_model(SONNET)
    # A batch cache read: 0.5 × 0.1 × $3.00/M = $0.15/M.
    assert cost(Usage(cache_read=1_000_000), prices, batch=True).total == Decimal("0.15")
    usage = Usage(uncached_input=7, cache_write_5m=11, cache_write_1h=13, cache_read=17, output=19)
    realtime = cost(usage, prices, batch=False).by_class()
    batch = cost(usage, prices, batch=True).by_class()
    assert all(batch[token_class] * 2 == realtime[token_class] for token_class in TokenClass)


def test_haiku_5_5_reprices_the_whole_call_above_a_100k_prompt(table: PriceTable) -> None:
    prices = table.for_model("claude-haiku-5-5")
    # At 100,000: 100,000 × $0.10/M + 1,000 × $0.50/M = $0.01 + $0.0005.
    below = cost(Usage(uncached_input=100_000, output=1_000), prices, batch=False)
    assert below.total == Decimal("0.0105")
    # One token more: 100,001 × $0.50/M + 1,000 × $2.50/M = $0.0500005 + $0.0025.
    above = cost(Usage(uncached_input=100_001, output=1_000), prices, batch=False)
    assert above.total == Decimal("0.0525005")
    # The tier is the whole prompt's: cached reads count toward it and are repriced too.
    mixed = cost(Usage(uncached_input=1, cache_read=100_000), prices, batch=False)
    assert mixed.cache_read == Decimal("0.005")  # 100,000 × $0.01/M × 5
    assert mixed.uncached_input == Decimal("0.0000005")  # 1 × $0.10/M × 5


def test_an_explicit_prompt_size_picks_the_tier(table: PriceTable) -> None:
    prices = table.for_model("gpt-6-sol")
    # 1,000 × $2.00/M × 2 + 1,000 × $10.00/M × 1.5 = $0.004 + $0.015.
    money = cost(
        Usage(uncached_input=1_000, output=1_000), prices, batch=False, prompt_tokens=272_001
    )
    assert money.total == Decimal("0.019")


def test_money_sums_of_100k_calls_do_not_drift(table: PriceTable) -> None:
    prices = table.for_model("claude-haiku-5-5")
    one_read = cost(Usage(cache_read=1), prices, batch=False)  # $0.01/M: $0.00000001
    total = sum((one_read for _ in range(100_000)), Money())
    assert total.total == Decimal("0.001")


def two_calls_five_blocks(table: PriceTable) -> Ledger:
    ledger = Ledger(table, prefix_tokens=10_000)
    # Call 1 writes the 10,000-token prefix; 3 blocks of 100 + 200 + 300 tokens; 600 out.
    ledger.record(
        LedgerCall(
            model=SONNET,
            usage=Usage(uncached_input=600, cache_write_5m=10_000, output=600),
            results={"a": 100, "b": 200, "c": 300},
        )
    )
    # Call 2 reads it; 2 blocks of 400 + 500 tokens; 100 out.
    ledger.record(
        LedgerCall(
            model=SONNET,
            usage=Usage(uncached_input=900, cache_read=10_000, output=100),
            results={"d": 400, "e": 500},
        )
    )
    return ledger


def test_the_baseline_is_one_uncached_call_per_processed_block(table: PriceTable) -> None:
    report = two_calls_five_blocks(table).report()
    assert (report.calls, report.blocks) == (2, 5)
    # Baseline input: 5 × 10,000 + (100 + 200 + 300 + 400 + 500) = 51,500 × $3/M = $0.1545.
    # Baseline output: shares 200 × 3 + 50 × 2 = 700 × $15/M = $0.0105.
    assert report.baseline_usage == Usage(uncached_input=51_500, output=700)
    assert report.baseline.uncached_input == Decimal("0.1545")
    assert report.baseline.output == Decimal("0.0105")
    assert report.baseline.total == Decimal("0.165")
    # Actual: 1,500 × $3/M + 10,000 × $3.75/M + 10,000 × $0.30/M + 700 × $15/M
    #       = $0.0045 + $0.0375 + $0.003 + $0.0105 = $0.0555.
    assert report.actual.total == Decimal("0.0555")
    assert report.ratio == pytest.approx(0.165 / 0.0555)
    assert report.cache_hit_ratio == 0.5
    assert report.retry_calls == 0


def test_output_shares_that_do_not_divide_evenly_still_sum_exactly(table: PriceTable) -> None:
    ledger = Ledger(table, prefix_tokens=0)
    ledger.record(
        LedgerCall(model=SONNET, usage=Usage(output=100), results={"a": 1, "b": 1, "c": 1})
    )
    report = ledger.report()
    assert report.baseline.output == Decimal("0.0015")  # 100 × $15/M
    assert report.baseline_usage.output == 100


def test_a_block_with_results_from_two_calls_counts_once_in_the_baseline(
    table: PriceTable,
) -> None:
    ledger = two_calls_five_blocks(table)
    ledger.record(LedgerCall(model=SONNET, usage=Usage(output=10), results={"e": 500}))
    report = ledger.report()
    assert (report.calls, report.blocks, report.duplicate_results) == (3, 5, 1)
    assert report.baseline.total == Decimal("0.165")
    assert report.actual.total == Decimal("0.0555") + Decimal("0.00015")


def test_calls_without_results_are_paid_and_shown_as_retries(table: PriceTable) -> None:
    ledger = two_calls_five_blocks(table)
    # A truncated call: 10,000 read × $0.30/M + 500 × $3/M + 2,000 × $15/M = $0.0345.
    ledger.record(
        LedgerCall(
            model=SONNET,
            usage=Usage(uncached_input=500, cache_read=10_000, output=2_000),
            status="truncated",
        )
    )
    # An error that still reported usage: 300 × $3/M = $0.0009.
    ledger.record(LedgerCall(model=SONNET, usage=Usage(uncached_input=300), status="error"))
    report = ledger.report()
    assert report.calls == 4
    assert report.blocks == 5
    assert report.retry_calls == 2
    assert report.retry_cost.total == Decimal("0.0354")
    assert report.by_status["truncated"].cost.total == Decimal("0.0345")
    assert report.by_status["error"].usage == Usage(uncached_input=300)
    assert report.actual.total == Decimal("0.0555") + Decimal("0.0354")
    assert report.baseline.total == Decimal("0.165")


def test_the_report_shows_output_per_block_and_truncation_waste_on_lines_of_their_own(
    table: PriceTable,
) -> None:
    ledger = two_calls_five_blocks(table)
    ledger.record(
        LedgerCall(
            model=SONNET,
            usage=Usage(uncached_input=500, cache_read=10_000, output=2_000),
            status="truncated",
        )
    )
    report = ledger.report()
    # 600 + 100 + 2,000 output tokens for 5 blocks; the truncated call is $0.0345 of $0.09.
    assert report.output_per_block == 540
    assert report.truncation.calls == 1
    assert report.truncation_share == pytest.approx(0.0345 / 0.09)
    lines = render_table(report).splitlines()
    assert "output/block      540.0 tokens (2,700 for 5 blocks)" in lines
    assert "truncation waste  $0.034500 (38.3% of cost) in 1 call" in lines
    assert json.loads(json.dumps(report.to_json()))["truncation_usd"] == "0.03450000"


def test_batch_calls_are_discounted_but_the_baseline_is_realtime(table: PriceTable) -> None:
    ledger = Ledger(table, prefix_tokens=1_000)
    ledger.record(
        LedgerCall(
            model=SONNET,
            usage=Usage(uncached_input=1_100, output=20),
            batch=True,
            results={"a": 100},
        )
    )
    report = ledger.report()
    # Actual: (1,100 × $3/M + 20 × $15/M) / 2 = $0.0018; baseline the same, undiscounted.
    assert report.actual.total == Decimal("0.0018")
    assert report.baseline.total == Decimal("0.0036")
    assert report.batch_calls == 1


def test_each_baseline_call_gets_its_own_long_prompt_tier(table: PriceTable) -> None:
    ledger = Ledger(table, prefix_tokens=99_950)
    ledger.record(
        LedgerCall(
            model="claude-haiku-5-5",
            usage=Usage(uncached_input=100, cache_read=99_950, output=20),
            results={"short": 40, "long": 60},
        )
    )
    report = ledger.report()
    # 99,990 × $0.10/M + 100,010 × $0.50/M = $0.009999 + $0.050005.
    assert report.baseline.uncached_input == Decimal("0.060004")
    # 10 output tokens each: 10 × $0.50/M + 10 × $2.50/M = $0.000005 + $0.000025.
    assert report.baseline.output == Decimal("0.00003")


def test_a_call_on_a_model_without_prices_fails_when_recorded(table: PriceTable) -> None:
    ledger = Ledger(table, prefix_tokens=0)
    with pytest.raises(UserInputError, match="no prices for model nobody-1"):
        ledger.record(LedgerCall(model="nobody-1", usage=Usage(output=1)))


def test_the_json_report_is_serialisable_with_exact_dollar_strings(table: PriceTable) -> None:
    data = two_calls_five_blocks(table).report().to_json()
    text = json.dumps(data)
    assert json.loads(text) == data
    assert Decimal(data["actual_usd"]["total"]) == Decimal("0.0555")  # type: ignore[index]
    assert Decimal(data["baseline_usd"]["total"]) == Decimal("0.165")  # type: ignore[index]
    assert data["models"] == [
        {"model": SONNET, "provider": "anthropic", "prices_read_on": "2026-11-01"}
    ]
    assert data["tokens"] == {
        "uncached_input": 1_500,
        "cache_write_5m": 10_000,
        "cache_write_1h": 0,
        "cache_read": 10_000,
        "output": 700,
    }


def test_the_table_names_model_provider_price_date_and_the_ratio(table: PriceTable) -> None:
    text = render_table(two_calls_five_blocks(table).report())
    assert "anthropic" in text
    assert "claude-sonnet-4-5 (prices read on 2026-11-01)" in text
    assert "3.0× cheaper" in text  # 0.165 / 0.0555 = 2.97
    assert "50.0% of cacheable prefix tokens" in text
    assert "$0.055500" in text
    assert "$0.165000" in text
    for label in ("uncached input", "cache write 5m", "cache write 1h", "cache read", "output"):
        assert label in text
    widths = {len(line) for line in text.splitlines()[5:12]}
    assert len(widths) == 1  # the class rows line up


def test_an_empty_ledger_reports_nothing_paid(table: PriceTable) -> None:
    report = Ledger(table, prefix_tokens=100).report()
    assert report.ratio is None
    assert report.cache_hit_ratio is None
    assert "n/a" in render_table(report)


def test_the_report_prices_the_same_usage_all_realtime_and_all_batch_and_the_resubmissions(
    table: PriceTable,
) -> None:
    ledger = Ledger(table, prefix_tokens=0)
    usage = Usage(uncached_input=1_000_000, cache_read=1_000_000, output=1_000_000)
    ledger.record(LedgerCall(model="claude-sonnet-4-5", usage=usage))
    ledger.record(LedgerCall(model="claude-sonnet-4-5", usage=usage, batch=True))
    ledger.record(LedgerCall(model="claude-sonnet-4-5", usage=usage, batch=True, resubmission=True))
    report = ledger.report()
    # 3.00 input + 0.30 read + 15.00 output per call at realtime prices, half in a batch.
    assert report.all_realtime == Decimal("54.90")
    assert report.all_batch == Decimal("27.45")
    assert report.actual.total == Decimal("18.30") + Decimal("9.15") * 2
    assert report.batch_cost.total == Decimal("18.30")
    assert report.batch_usage == usage + usage
    assert report.resubmitted_calls == 1
    assert report.resubmitted_cost == Decimal("9.15")
    assert "resubmitted" in render_table(report)
