"""The pack-size bound per model, read off the sweep's curve, and the file that keeps it.

The rule: with the smallest pack size of the sweep (in realtime mode) as the reference, a
model's bound is the largest swept size such that it and every smaller size keep at least
``KEEP`` (95%) of the reference's F1 and leave at most one point more of the blocks
unanswered. A model whose reference F1 is 0 (it finds nothing right at any size) is bounded
by unanswered blocks alone, and its entry says so.

``providers/pack_bounds.toml`` is the shipped file: one ``[models."id"]`` table per model
with ``max_blocks`` and the data it came from (``run``, ``note``, and per swept size the F1,
recall, unanswered share and block count). ``providers.base`` reads ``max_blocks`` into the
profile (``ModelProfile.pack_bound``), and packing uses it when no ``--max-blocks`` is given.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from blockpass.evaluation.summary import SizeRow, Summary

__all__ = ["KEEP", "PackBound", "choose_bounds", "write_bounds"]

KEEP = 0.95
UNANSWERED_SLACK = 0.01

_HEADER = """\
# The default pack-size bound per model (blocks per realtime pack), chosen by `blockpass eval`
# (evaluation/bounds.py: the largest swept size that keeps 95% of the smallest size's F1 and
# no more unanswered blocks) and written with the data it came from. Packing uses max_blocks
# when no --max-blocks is given (packing.pack_size_bounds); a model without one keeps 40.
# Entries made on the sandbox rest on its quality model's ASSUMED miss rates (their note says
# so); measure a real model with `blockpass eval --provider anthropic|openai` and write again.
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class PackBound:
    model: str
    max_blocks: int
    run: str
    note: str
    sizes: tuple[int, ...]
    f1: tuple[float | None, ...]
    recall: tuple[float | None, ...]
    unanswered: tuple[float | None, ...]
    blocks: tuple[int, ...]

    def describe(self) -> str:
        points = ", ".join(
            f"{size}: F1 {_shown(f1)} recall {_shown(recall)} unanswered {_shown(gone)}"
            for size, f1, recall, gone in zip(
                self.sizes, self.f1, self.recall, self.unanswered, strict=True
            )
        )
        return f"{self.model}: max_blocks {self.max_blocks} ({self.note}; {points})"

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model,
            "max_blocks": self.max_blocks,
            "run": self.run,
            "note": self.note,
            "sizes": list(self.sizes),
            "f1": list(self.f1),
            "recall": list(self.recall),
            "unanswered": list(self.unanswered),
            "blocks": list(self.blocks),
        }


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def choose_bounds(summary: Summary, *, run: str, mode: str = "realtime") -> list[PackBound]:
    by_model: dict[str, list[SizeRow]] = {}
    for row in sorted(summary.sizes, key=lambda row: row.pack_size):
        if row.mode == mode:
            by_model.setdefault(row.model, []).append(row)
    return [_bound(model, rows, run) for model, rows in by_model.items()]


def _bound(model: str, rows: Sequence[SizeRow], run: str) -> PackBound:
    f1 = [row.metrics["f1"].value for row in rows]
    unanswered = [row.metrics["unanswered_rate"].value for row in rows]
    reference_f1 = f1[0] or 0.0
    reference_gone = unanswered[0] or 0.0
    chosen = rows[0].pack_size
    for row, quality, gone in zip(rows, f1, unanswered, strict=True):
        if (quality or 0.0) < KEEP * reference_f1 or (
            gone or 0.0
        ) > reference_gone + UNANSWERED_SLACK:
            break
        chosen = row.pack_size
    note = (
        f"keeps {KEEP:.0%} of the F1 at pack size {rows[0].pack_size}"
        if reference_f1 > 0
        else f"F1 0 at pack size {rows[0].pack_size}: bounded by unanswered blocks alone"
    )
    return PackBound(
        model=model,
        max_blocks=chosen,
        run=run,
        note=note,
        sizes=tuple(row.pack_size for row in rows),
        f1=tuple(f1),
        recall=tuple(row.metrics["recall"].value for row in rows),
        unanswered=tuple(unanswered),
        blocks=tuple(row.blocks for row in rows),
    )


def write_bounds(path: Path, bounds: Sequence[PackBound]) -> None:
    """``bounds`` into the file at ``path``, keeping its entries for other models."""
    kept: dict[str, dict[str, object]] = {}
    if path.is_file():
        kept = tomllib.loads(path.read_text("utf-8")).get("models", {})
    for bound in bounds:
        entry = bound.to_json()
        del entry["model"]
        kept[bound.model] = entry
    tables = []
    for model in sorted(kept):
        lines = [f"[models.{json.dumps(model)}]"]
        for key, value in kept[model].items():
            lines.append(f"{key} = {_toml(value)}")
        tables.append("\n".join(lines))
    path.write_text(_HEADER + "\n" + "\n\n".join(tables) + "\n", "utf-8")


def _toml(value: object) -> str:
    """A TOML value: strings and numbers as JSON writes them, a missing figure as ``nan``."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if value is None or (isinstance(value, float) and value != value):
        return "nan"
    if isinstance(value, float):
        return f"{value:.4f}"
    return json.dumps(value)
