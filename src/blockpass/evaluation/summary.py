"""A sweep's cells summed up: metrics by pack size and by position in the pack, with cost.

Rows are per model, mode and pack size (every suite's blocks together); position rows split
the same blocks by where they sat in the pack that answered them, in bins of positions
(1, 2-5, 6-10, 11-20, 21-40, 41-80, counted from 1).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from blockpass.evaluation.scoring import METRICS, BlockScore, Estimate, estimate
from blockpass.evaluation.sweep import CellRun

__all__ = ["POSITION_BINS", "PositionRow", "SizeRow", "Summary", "summarise"]

POSITION_BINS = ((1, 1), (2, 5), (6, 10), (11, 20), (21, 40), (41, 80))
# Counted in ``ExecutionStats``: answers whose ids were wrong, and answers that did not parse.
_ID_COUNTS = ("unknown_ids", "duplicate_ids", "missing_ids", "invalid_items")
_SCHEMA_COUNTS = ("malformed", "truncated", "refused")


@dataclass(frozen=True, slots=True, kw_only=True)
class SizeRow:
    model: str
    mode: str
    pack_size: int
    blocks: int
    skipped: int
    calls: int
    cost: Decimal
    metrics: dict[str, Estimate]
    # From the runs' execution counts: ids the answers got wrong, answers that did not parse.
    id_failures: int
    schema_failures: int
    rejected_edits: int

    @property
    def cost_per_block(self) -> Decimal:
        return self.cost / self.blocks if self.blocks else Decimal(0)

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "mode": self.mode,
            "pack_size": self.pack_size,
            "blocks": self.blocks,
            "skipped": self.skipped,
            "calls": self.calls,
            "cost": str(self.cost),
            "cost_per_block": str(self.cost_per_block),
            "id_failures": self.id_failures,
            "schema_failures": self.schema_failures,
            "rejected_edits": self.rejected_edits,
            "metrics": {name: value.to_json() for name, value in self.metrics.items()},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionRow:
    model: str
    mode: str
    pack_size: int
    first: int
    last: int
    metrics: dict[str, Estimate]

    @property
    def label(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}-{self.last}"

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "mode": self.mode,
            "pack_size": self.pack_size,
            "positions": self.label,
            "metrics": {name: value.to_json() for name, value in self.metrics.items()},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Summary:
    sizes: tuple[SizeRow, ...]
    positions: tuple[PositionRow, ...]

    def lines(self) -> list[str]:
        """One line per model, mode and pack size: the figures a terminal shows."""
        lines = []
        for row in self.sizes:
            shown = " ".join(
                f"{name} {row.metrics[name].text()}"
                for name in ("precision", "recall", "exact_fix_rate", "false_edit_rate")
            )
            lines.append(
                f"{row.model} {row.mode} pack {row.pack_size}: {row.blocks} blocks "
                f"({row.skipped} more skipped by the pre-filter), "
                f"{row.calls} calls, {shown}, id failures {row.id_failures}, schema failures "
                f"{row.schema_failures}, rejected edits {row.rejected_edits}, "
                f"${row.cost_per_block:.6f}/block"
            )
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "by_pack_size": [row.to_json() for row in self.sizes],
            "by_position": [row.to_json() for row in self.positions],
        }


def summarise(runs: Sequence[CellRun], *, seed: int) -> Summary:
    cells: dict[tuple[str, str, int], list[CellRun]] = defaultdict(list)
    for run in runs:
        cells[run.cell.model, run.cell.mode.value, run.cell.pack_size].append(run)
    sizes = []
    positions = []
    for (model, mode, size), group in cells.items():
        scores = [score for run in group for score in run.scores]
        sizes.append(
            SizeRow(
                model=model,
                mode=mode,
                pack_size=size,
                blocks=len(scores),
                skipped=sum(run.skipped for run in group),
                calls=sum(run.calls for run in group),
                cost=sum((run.cost for run in group), Decimal(0)),
                metrics=_metrics(scores, seed),
                id_failures=sum(run.stats[name] for run in group for name in _ID_COUNTS),
                schema_failures=sum(run.stats[name] for run in group for name in _SCHEMA_COUNTS),
                rejected_edits=sum(run.stats["rejected_edits"] for run in group),
            )
        )
        for first, last in POSITION_BINS:
            placed = [s for s in scores if s.answered and first <= s.position + 1 <= last]
            if placed:
                positions.append(
                    PositionRow(
                        model=model,
                        mode=mode,
                        pack_size=size,
                        first=first,
                        last=last,
                        metrics=_metrics(placed, seed),
                    )
                )
    return Summary(sizes=tuple(sizes), positions=tuple(positions))


def _metrics(scores: Sequence[BlockScore], seed: int) -> dict[str, Estimate]:
    return {name: estimate(name, scores, seed=seed) for name in METRICS}
