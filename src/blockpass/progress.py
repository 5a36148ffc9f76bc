"""What a run spends while it runs, from the usage each settled call recorded.

The figures are the ledger's own (``ledger.Ledger``), fed one call at a time, so the money a
progress display shows mid-run is the money the final report shows for the same calls: the
actual cost at recorded usage, and the one-uncached-call-per-block baseline for the blocks
those calls returned results for. Nothing is estimated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from blockpass.blocks import BlockResult, Outcome
from blockpass.ledger import Ledger, LedgerCall
from blockpass.prices import PriceTable
from blockpass.store import CallRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class Spend:
    """This invocation's calls so far: what they cost, and what the baseline would have."""

    calls: int = 0
    blocks: int = 0
    actual: Decimal = Decimal(0)
    baseline: Decimal = Decimal(0)

    @property
    def saved(self) -> Decimal:
        return self.baseline - self.actual


class SpendMeter:
    """Prices each settled call as it arrives, counting its blocks as the final report does:
    ``prefix_tokens`` is the full-guide prefix of the call's model, ``block_tokens`` a
    block's own input tokens."""

    def __init__(self, prices: PriceTable) -> None:
        self._ledger = Ledger(prices, prefix_tokens=0)

    def add(
        self,
        call: CallRecord,
        results: Sequence[BlockResult],
        *,
        prefix_tokens: int,
        block_tokens: Callable[[str], int],
    ) -> Spend:
        self._ledger.record(
            LedgerCall(
                model=call.model,
                usage=call.usage,
                batch=call.batch,
                status=call.status,
                prefix_tokens=prefix_tokens,
                results={
                    result.block_id: block_tokens(result.block_id)
                    for result in results
                    if result.outcome is Outcome.RESULT
                },
            )
        )
        report = self._ledger.report()
        return Spend(
            calls=report.calls,
            blocks=report.blocks,
            actual=report.actual.total,
            baseline=report.baseline.total,
        )
