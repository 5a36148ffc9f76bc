"""The harness's outputs: plots (PNG), one self-contained HTML report, and the data as JSON.

Written into a folder:
  eval.json                   the summary (by pack size, by position), the chosen pack-size
                              bounds with their data, the notes, the settings
  blocks.jsonl                every block's score, one line per block and cell
  quality_by_pack_size.png    precision, recall, F1 and exact-fix rate against pack size
  recall_by_position.png      recall by position in the pack, a panel per model and mode,
                              a line per pack size
  failures_by_pack_size.png   false edits, unanswered blocks, id failures and rejected edits
  cost_per_block.png          what a block cost against pack size
  report.html                 all of it, the plots inline

matplotlib (the ``eval`` extra) is imported only here, and with the Agg backend: no display.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from blockpass.errors import UserInputError
from blockpass.evaluation.bounds import PackBound
from blockpass.evaluation.summary import SizeRow, Summary
from blockpass.evaluation.sweep import CellRun

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["PLOTS", "write_report"]

PLOTS = (
    "quality_by_pack_size.png",
    "recall_by_position.png",
    "failures_by_pack_size.png",
    "cost_per_block.png",
)


def write_report(
    folder: Path,
    runs: Sequence[CellRun],
    summary: Summary,
    bounds: Sequence[PackBound],
    *,
    notes: Sequence[str],
    settings: dict[str, object],
) -> list[Path]:
    """Every output above in ``folder`` (created); the paths written, the report last."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise UserInputError("the plots need matplotlib: pip install 'blockpass[eval]'") from None
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "settings": settings,
        "notes": list(notes),
        **summary.to_json(),
        "pack_size_bounds": [bound.to_json() for bound in bounds],
    }
    (folder / "eval.json").write_text(json.dumps(data, indent=2) + "\n", "utf-8")
    with (folder / "blocks.jsonl").open("w", encoding="utf-8") as out:
        for run in runs:
            cell = run.to_json()
            for block in cell.pop("blocks"):  # type: ignore[attr-defined]
                # The block's own pack_size is the pack that answered it; the cell's, asked.
                out.write(json.dumps({**cell, "cell_pack_size": cell["pack_size"], **block}) + "\n")
    panels = (
        ("precision", "recall", "f1", "exact_fix_rate"),
        # One panel per model and mode: its recall by position, a line per pack size.
        tuple(f"{model} {mode}" for model, mode in _series(summary)),
        ("false_edit_rate", "unanswered_rate", "id_failures_per_block", "rejected_edits_per_block"),
        ("cost",),
    )
    drawers = (_by_size, _by_position, _by_size, _by_size)
    paths = []
    for name, metrics, draw in zip(PLOTS, panels, drawers, strict=True):
        columns = min(2, len(metrics))
        rows = -(-len(metrics) // columns)
        figure, grid = pyplot.subplots(
            rows, columns, figsize=(5 * columns, 3.6 * rows), squeeze=False
        )
        for axes, metric in zip(grid.flat, metrics, strict=False):
            draw(axes, summary, metric)
            axes.grid(alpha=0.3)
            if axes.get_legend_handles_labels()[0]:
                axes.legend(fontsize=6)
        figure.suptitle(name.removesuffix(".png").replace("_", " "))
        figure.tight_layout()
        figure.savefig(folder / name, dpi=100)
        pyplot.close(figure)
        paths.append(folder / name)
    report = folder / "report.html"
    report.write_text(_html(folder, summary, bounds, notes, settings), "utf-8")
    return [folder / "eval.json", folder / "blocks.jsonl", *paths, report]


def _series(summary: Summary) -> dict[tuple[str, str], list[SizeRow]]:
    series: dict[tuple[str, str], list[SizeRow]] = {}
    for row in sorted(summary.sizes, key=lambda row: row.pack_size):
        series.setdefault((row.model, row.mode), []).append(row)
    return series


def _by_size(axes: Axes, summary: Summary, metric: str) -> None:
    """One line per model and mode against pack size, with the 95% interval as error bars."""
    sizes: set[int] = set()
    for (model, mode), rows in _series(summary).items():
        if metric == "cost":
            points = [(row.pack_size, float(row.cost_per_block), 0.0, 0.0) for row in rows]
        else:
            points = [
                (
                    row.pack_size,
                    e.value,
                    e.value - (e.low or e.value),
                    (e.high or e.value) - e.value,
                )
                for row in rows
                if (e := row.metrics[metric]).value is not None
            ]
        if not points:
            continue
        sizes.update(size for size, *_ in points)
        axes.errorbar(
            [size for size, *_ in points],
            [value for _, value, _, _ in points],
            yerr=[[low for *_, low, _ in points], [high for *_, high in points]],
            marker="o", capsize=3, label=f"{model} {mode}",
        )  # fmt: skip
    axes.set_xscale("log")
    axes.set_xticks(sorted(sizes), [str(size) for size in sorted(sizes)])
    axes.minorticks_off()
    axes.set_xlabel("blocks per pack")
    axes.set_title("US$ per block (recorded usage, price table)" if metric == "cost" else metric)


def _by_position(axes: Axes, summary: Summary, panel: str) -> None:
    """Recall by position bin for the model and mode ``panel`` names, a line per pack size."""
    labels = [row.label for row in summary.positions]
    labels = sorted(set(labels), key=labels.index)
    lines: dict[int, list[tuple[int, float]]] = {}
    for row in summary.positions:
        value = row.metrics["recall"].value
        if value is not None and row.pack_size > 1 and f"{row.model} {row.mode}" == panel:
            lines.setdefault(row.pack_size, []).append((labels.index(row.label), value))
    for size, points in lines.items():
        axes.plot([x for x, _ in points], [v for _, v in points], marker="o", label=f"pack {size}")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_xlabel("position in the pack (from 1)")
    axes.set_ylabel("recall")
    axes.set_title(panel)


def _html(
    folder: Path,
    summary: Summary,
    bounds: Sequence[PackBound],
    notes: Sequence[str],
    settings: dict[str, object],
) -> str:
    escape = html.escape
    metrics = ("precision", "recall", "f1", "exact_fix_rate", "false_edit_rate", "unanswered_rate")
    head = "".join(f"<th>{name}</th>" for name in metrics)
    rows = "".join(
        f"<tr><td>{escape(row.model)}</td><td>{row.mode}</td><td>{row.pack_size}</td>"
        f"<td>{row.blocks}</td><td>{row.calls}</td>"
        + "".join(f"<td>{row.metrics[name].text()}</td>" for name in metrics)
        + f"<td>{row.id_failures}</td><td>{row.schema_failures}</td><td>{row.rejected_edits}</td>"
        f"<td>{row.cost_per_block:.6f}</td></tr>"
        for row in summary.sizes
    )
    position_rows = "".join(
        f"<tr><td>{escape(row.model)}</td><td>{row.mode}</td><td>{row.pack_size}</td>"
        f"<td>{row.label}</td><td>{row.metrics['recall'].text()}</td>"
        f"<td>{row.metrics['precision'].text()}</td><td>{row.metrics['recall'].n}</td></tr>"
        for row in summary.positions
    )
    bound_items = "".join(f"<li>{escape(bound.describe())}</li>" for bound in bounds)
    images = "".join(
        f'<h2>{escape(name)}</h2><img alt="{escape(name)}" src="data:image/png;base64,'
        f'{base64.b64encode((folder / name).read_bytes()).decode()}">'
        for name in PLOTS
    )
    note_items = "".join(f"<li><strong>{escape(note)}</strong></li>" for note in notes)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>blockpass eval</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:12px}}
td,th{{border:1px solid #ccc;padding:3px 6px}}img{{max-width:100%}}</style></head><body>
<h1>blockpass eval: quality by pack size, position and model</h1>
<ul>{note_items}</ul>
<pre>{escape(json.dumps(settings, indent=2))}</pre>
<h2>By pack size</h2>
<table><tr><th>model</th><th>mode</th><th>pack</th><th>blocks</th><th>calls</th>{head}
<th>id failures</th><th>schema failures</th><th>rejected edits</th><th>US$/block</th></tr>
{rows}</table>
<h2>Pack-size bound per model</h2><ul>{bound_items}</ul>
<h2>By position in the pack</h2>
<table><tr><th>model</th><th>mode</th><th>pack</th><th>positions</th><th>recall</th>
<th>precision</th><th>blocks</th></tr>{position_rows}</table>
{images}
</body></html>
"""
