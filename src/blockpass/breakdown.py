"""Where every block of a run went, and what each way of not paying for it saved.

The cost report (``ledger``) prices the calls that were made against one call per
*processed* block. This adds the blocks that never reached the model: skipped by the
pre-filter (by reason), reused from an earlier result, or settled by the rule engine, and
prices each of them as one uncached call with the full prefix, as the baseline would have.

Such blocks have no measured output, so their baseline output is the run's average measured
output per processed block (or the packing estimate when nothing was processed); the report
says so. Input is exact: the prefix and the block, counted with the model's tokenizer.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from blockpass.blocks import BY_AGENT, REUSED, RULES, Block, BlockResult, Outcome
from blockpass.ledger import CostReport
from blockpass.packing import DEFAULT_OUTPUT_ESTIMATE, block_input_tokens
from blockpass.prices import ModelPrices
from blockpass.report_text import Pairs, describe_ratio, render_pairs, usd
from blockpass.usage import TokenClass


@dataclass(frozen=True, slots=True, kw_only=True)
class Breakdown:
    blocks: int
    skipped: dict[str, int]
    reused: int
    by_rules: int
    sent: int
    failed: int
    baseline_all: Decimal
    actual: Decimal
    saved_by_prefilter: Decimal
    saved_by_reuse: Decimal
    saved_by_rules: Decimal
    saved_by_caching_and_packing: Decimal
    output_per_unsent_block: float
    # Done by MCP clients through ``blockpass mcp serve``: not sent, not paid for by the run.
    by_agents: int = 0

    @property
    def ratio(self) -> float | None:
        """One call for every block against what the run paid: the whole saving."""
        return float(self.baseline_all / self.actual) if self.actual else None

    def to_json(self) -> dict[str, Any]:
        return {
            "blocks": self.blocks,
            "skipped": dict(sorted(self.skipped.items())),
            "reused": self.reused,
            "by_rules": self.by_rules,
            "by_agents": self.by_agents,
            "sent_to_model": self.sent,
            "failed": self.failed,
            "baseline_all_blocks_usd": str(self.baseline_all),
            "actual_usd": str(self.actual),
            "ratio_all_blocks": self.ratio,
            "saved_usd": {
                "prefilter": str(self.saved_by_prefilter),
                "reuse": str(self.saved_by_reuse),
                "rules": str(self.saved_by_rules),
                "caching_and_packing": str(self.saved_by_caching_and_packing),
            },
            "baseline_output_per_unsent_block": round(self.output_per_unsent_block, 1),
        }


def breakdown(
    blocks: Sequence[Block],
    results: dict[str, BlockResult],
    report: CostReport,
    *,
    prefix_tokens: int,
    count: Callable[[str], int],
    prices: ModelPrices,
) -> Breakdown:
    output = (
        report.baseline_usage.output / report.blocks if report.blocks else DEFAULT_OUTPUT_ESTIMATE
    )
    input_price = prices.per_million(TokenClass.UNCACHED_INPUT, batch=False, long=False)
    output_price = prices.per_million(TokenClass.OUTPUT, batch=False, long=False)

    def baseline(block: Block) -> Decimal:
        tokens = prefix_tokens + block_input_tokens(block, count)
        return (input_price * tokens + output_price * Decimal(str(output))).scaleb(-6)

    saved: dict[str, Decimal] = defaultdict(Decimal)
    settled: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for block in blocks:
        result = results.get(block.id)
        if result is None:
            continue
        if result.outcome is Outcome.SKIPPED:
            skipped[result.reason] += 1
            saved["prefilter"] += baseline(block)
        elif result.outcome is Outcome.FAILED:
            settled["failed"] += 1
        elif result.call_id is not None:
            settled["sent"] += 1
        elif result.reason == BY_AGENT:
            settled[BY_AGENT] += 1
        elif result.reason in (REUSED, RULES):
            settled[result.reason] += 1
            saved[result.reason] += baseline(block)
    return Breakdown(
        blocks=len(blocks),
        skipped=dict(skipped),
        reused=settled[REUSED],
        by_rules=settled[RULES],
        by_agents=settled[BY_AGENT],
        sent=settled["sent"],
        failed=settled["failed"],
        baseline_all=report.baseline.total + sum(saved.values(), Decimal(0)),
        actual=report.actual.total,
        saved_by_prefilter=saved["prefilter"],
        saved_by_reuse=saved[REUSED],
        saved_by_rules=saved[RULES],
        saved_by_caching_and_packing=report.baseline.total - report.actual.total,
        output_per_unsent_block=output,
    )


def breakdown_sections(summary: Breakdown) -> tuple[Pairs, list[tuple[str, str, str]]]:
    """Where the blocks went, and each saving with its share of the all-blocks baseline."""
    skipped = ", ".join(f"{reason} {count:,}" for reason, count in sorted(summary.skipped.items()))
    share = summary.baseline_all or Decimal(1)
    pairs = [
        (
            "blocks",
            f"{summary.blocks:,}: {summary.sent:,} sent to the model, "
            f"{sum(summary.skipped.values()):,} skipped, {summary.reused:,} reused, "
            f"{summary.by_rules:,} by the rule engine, "
            + (f"{summary.by_agents:,} by MCP clients, " if summary.by_agents else "")
            + f"{summary.failed:,} failed",
        ),
        ("skipped", skipped or "none"),
        ("baseline, all", f"{usd(summary.baseline_all)}  (one uncached call for every block)"),
        ("ratio, all", describe_ratio(summary.ratio)),
    ]
    savings = [
        ("pre-filter", summary.saved_by_prefilter),
        ("reuse", summary.saved_by_reuse),
        ("rule engine", summary.saved_by_rules),
        ("caching + packing", summary.saved_by_caching_and_packing),
    ]
    rows = [
        ("saved by " + name, usd(amount), f"{100 * amount / share:5.1f}%")
        for name, amount in savings
    ]
    return pairs, rows


def render_breakdown(summary: Breakdown) -> str:
    pairs, rows = breakdown_sections(summary)
    lines = render_pairs(pairs)
    lines += [f"{name:<30}{amount:>14}  {percent}" for name, amount, percent in rows]
    return "\n".join(lines)
