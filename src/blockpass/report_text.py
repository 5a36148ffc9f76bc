"""The cost report as text: label/value cells around a table of token classes, rendered
plain (fixed width, for logs and scripts) here and as Rich tables in ``terminal.py``, which
shows the same cells. Money is rounded here, and only here (``ledger.py`` keeps it exact)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from blockpass.ledger import OK, CostReport, WhatIf
from blockpass.usage import TokenClass

__all__ = [
    "TOKEN_COLUMNS",
    "Pairs",
    "ReportSections",
    "count_calls",
    "describe_ratio",
    "render_pairs",
    "render_table",
    "render_what_if",
    "report_sections",
    "usd",
]


def usd(amount: Decimal) -> str:
    """Dollars for display; six places so a single cheap call does not show as zero."""
    return f"${amount:,.6f}"


def describe_ratio(ratio: float | None) -> str:
    if ratio is None:
        return "n/a (nothing was paid)"
    if ratio == 1:
        return "1.0× (same cost)"
    if ratio > 1:
        return f"{ratio:.1f}× cheaper"
    return f"{1 / ratio:.1f}× more expensive" if ratio > 0 else "n/a (baseline is zero)"


def count_calls(count: int) -> str:
    return f"{count:,} call" if count == 1 else f"{count:,} calls"


# A report as label/value pairs around a table of token classes: the plain renderer below
# and the terminal's tables (``terminal.py``) show the same cells.
Pairs = list[tuple[str, str]]
TOKEN_COLUMNS = ("token class", "tokens", "actual", "baseline tokens", "baseline")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSections:
    head: Pairs
    token_rows: list[tuple[str, str, str, str, str]]
    tail: Pairs


def report_sections(report: CostReport) -> ReportSections:
    # The sandbox serves calls priced as a real provider's: say both when they differ.
    priced_as = ", ".join(sorted({prices.provider for prices in report.models})) or "-"
    provider = priced_as
    if report.served_by and report.served_by != priced_as:
        provider = f"{report.served_by} (priced as {priced_as})"
    models = ", ".join(
        f"{prices.model} (prices read on {prices.read_on or 'an unknown date'})"
        for prices in report.models
    )
    statuses = ", ".join(
        f"{status} {line.calls:,}" for status, line in sorted(report.by_status.items())
    )
    head = [
        ("provider", provider),
        ("model", models or "-"),
        ("calls", f"{report.calls:,} ({statuses or 'none'}; {report.batch_calls:,} in batches)"),
        ("blocks", f"{report.blocks:,}"),
    ]
    actual = report.actual.by_class()
    baseline = report.baseline.by_class()
    tokens = report.usage.by_class()
    baseline_tokens = report.baseline_usage.by_class()
    rows = [
        (
            token_class.value.replace("_", " "),
            f"{tokens[token_class]:,}",
            usd(actual[token_class]),
            f"{baseline_tokens[token_class]:,}",
            usd(baseline[token_class]),
        )
        for token_class in TokenClass
    ]
    rows.append(
        (
            "total",
            f"{report.usage.input_total + report.usage.output:,}",
            usd(report.actual.total),
            f"{report.baseline_usage.input_total + report.baseline_usage.output:,}",
            usd(report.baseline.total),
        )
    )
    hit = report.cache_hit_ratio
    retry = ", ".join(
        f"{status} {usd(line.cost.total)}"
        for status, line in sorted(report.by_status.items())
        if status != OK
    )
    tail = [("actual", usd(report.actual.total))]
    if report.interrupted:
        tail += [
            (
                "interrupted",
                f"{count_calls(len(report.interrupted))}, outcome unknown: "
                f"at most {usd(report.interrupted_at_most)}",
            ),
            (
                "at most",
                f"{usd(report.at_most)}  (actual + interrupted calls at their upper bound)",
            ),
        ]
    tail += [
        ("baseline", f"{usd(report.baseline.total)}  (one uncached call per block)"),
        ("ratio", describe_ratio(report.ratio)),
        (
            "cache hit ratio",
            "n/a (nothing cached)" if hit is None else f"{hit:.1%} of cacheable prefix tokens",
        ),
        (
            "retries/wasted",
            f"{usd(report.retry_cost.total)} in {count_calls(report.retry_calls)}"
            + (f" ({retry})" if retry else ""),
        ),
    ]
    per_block = report.output_per_block
    if per_block is not None:
        tail += [
            (
                "output/block",
                f"{per_block:.1f} tokens ({report.usage.output:,} for {report.blocks:,} blocks)",
            ),
            (
                "truncation waste",
                f"{usd(report.truncation.cost.total)} ({report.truncation_share:.1%} of cost) in "
                + count_calls(report.truncation.calls),
            ),
        ]
    if report.batch_calls:
        batch_hit = report.batch_cache_hit_ratio
        tail += [
            (
                "in batches",
                f"{usd(report.batch_cost.total)} in {count_calls(report.batch_calls)}, cache hit "
                "ratio " + ("n/a" if batch_hit is None else f"{batch_hit:.1%}"),
            ),
            (
                "same usage",
                f"{usd(report.all_realtime)} all realtime, {usd(report.all_batch)} all in batches",
            ),
            (
                "resubmitted",
                f"{usd(report.resubmitted_cost)} in {count_calls(report.resubmitted_calls)} "
                "(packs sent again)",
            ),
        ]
    if report.duplicate_results:
        tail.append(("duplicate results", f"{report.duplicate_results:,} (paid, not re-counted)"))
    return ReportSections(head=head, token_rows=rows, tail=tail)


def render_pairs(pairs: Pairs) -> list[str]:
    return [f"{label:<18}{value}" for label, value in pairs]


def render_table(report: CostReport) -> str:
    """The report as fixed-width plain text, for a log or a script."""
    sections = report_sections(report)
    widths = (16, 18, 18, 18)
    header, *numbers = TOKEN_COLUMNS
    lines = [
        *render_pairs(sections.head),
        "",
        f"{header:<16}"
        + "".join(f"{name:>{width}}" for name, width in zip(numbers, widths, strict=True)),
    ]
    lines += [
        f"{label:<16}"
        + "".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True))
        for label, *cells in sections.token_rows
    ]
    lines += ["", *render_pairs(sections.tail)]
    return "\n".join(lines) + "\n"


def render_what_if(what_if: WhatIf) -> str:
    report = what_if.report
    return (
        f"what-if           {usd(report.actual.total)} if the same usage were billed as "
        f"{what_if.model}, against {usd(report.baseline.total)} for one uncached call per "
        f"block ({describe_ratio(report.ratio)}); not a bill"
    )
