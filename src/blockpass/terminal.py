"""What a person at a terminal sees: live progress on stderr and the reports as Rich tables.

A stream that is not a terminal (CI, a pipe, a file) or ``--plain`` gets no animation and no
escape codes: no progress display, and the reports as the fixed-width plain text of
``ledger``, ``breakdown`` and ``forecast``, which scripts read. The caller decides what is a
terminal and whether colour is wanted (``NO_COLOR``); nothing here reads the environment.

The money shown while a run runs comes from the pipeline's ``Spend`` (recorded usage priced
by the price table, the report's own arithmetic), never from an estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.table import Column, Table
from rich.text import Text

from blockpass.breakdown import breakdown_sections, render_breakdown
from blockpass.forecast import FORECAST_COLUMNS, ForecastRow, forecast_cells, render_forecast
from blockpass.progress import Spend
from blockpass.report_text import (
    TOKEN_COLUMNS,
    Pairs,
    count_calls,
    describe_ratio,
    render_pairs,
    render_table,
    render_what_if,
    report_sections,
    usd,
)

if TYPE_CHECKING:
    from pathlib import Path

    from blockpass.pipeline import JobOutcome, ThisRun
    from blockpass.store import CallRecord, StoredBatch

__all__ = ["RunProgress", "console_for", "print_forecast", "print_outcome"]


def console_for(stream: TextIO, *, plain: bool, color: bool) -> Console | None:
    """A Rich console on ``stream`` if it is a terminal and plain output was not asked for;
    None means plain text."""
    if plain or not stream.isatty():
        return None
    return Console(file=stream, force_terminal=True, no_color=not color, highlight=False)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.speed
        return Text("- blocks/s" if speed is None else f"{speed:,.1f} blocks/s")


class _TimeLeftColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        # Rich marks a task finished only when an update reaches the total, never a task
        # that starts there (an empty job, a resumed run with every block done).
        if task.total is not None and task.completed >= task.total:
            return Text("done")
        left = task.time_remaining
        if left is None:
            return Text("time left -")
        minutes, seconds = divmod(round(left), 60)
        hours, minutes = divmod(minutes, 60)
        shown = f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {seconds:02d}s"
        return Text(f"{shown} left")


class _SpendColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        spend: Spend = task.fields["spend"]
        calls = f"{spend.calls:,} call" + ("" if spend.calls == 1 else "s")
        if not spend.baseline:
            return Text(f"{calls}, {usd(spend.actual)} spent")
        return Text(f"{calls}, {usd(spend.actual)} spent, saved {usd(spend.saved)}")


class RunProgress:
    """A run's live progress on a terminal; every method does nothing without a console.

    Blocks done of the total, blocks per second, time left, calls and money this invocation
    spent, and what it saved against one uncached call per block for the blocks its calls
    answered. In batch mode, also batches submitted and ended, and packs answered. Use it as
    a context manager: leaving it (a Ctrl-C included) stops the display and restores the
    cursor before anything else is printed.
    """

    def __init__(
        self, console: Console | None, *, clock: Callable[[], float] | None = None
    ) -> None:
        self._progress = (
            None
            if console is None
            else Progress(
                TextColumn("blocks"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                _RateColumn(),
                _TimeLeftColumn(),
                _SpendColumn(),
                TextColumn("{task.fields[batches]}"),
                console=console,
                # Stdout may be a pipe while stderr is a terminal: what goes to stdout
                # stays there rather than being drawn above the bar on stderr.
                redirect_stdout=False,
                refresh_per_second=4,
                get_time=clock,
            )
        )
        self._task: TaskID | None = None
        self._batches = self._ended = self._packs = self._answered = 0

    def __enter__(self) -> RunProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, total: int, done: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(
                "", total=total, completed=done, spend=Spend(), batches=""
            )

    def advance(self, count: int) -> None:
        self._update(advance=count)

    def spent(self, spend: Spend) -> None:
        self._update(spend=spend)

    def call(self, call: CallRecord) -> None:
        if call.batch:
            self._answered += 1
            self._update(batches=self._batch_text())

    def batch_submitted(self, batch: StoredBatch) -> None:
        self._batches += 1
        self._packs += len(batch.items)
        self._update(batches=self._batch_text())

    def batch_ended(self, batch: StoredBatch) -> None:
        self._ended += 1
        self._update(batches=self._batch_text())

    def _batch_text(self) -> str:
        return (
            f"batches {self._ended:,}/{self._batches:,} ended, "
            f"packs {self._answered:,}/{self._packs:,} answered"
        )

    def _update(self, *, advance: int = 0, **fields: Any) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=advance, **fields)


def _this_run_lines(this_run: ThisRun, out_dir: Path) -> list[str]:
    """What this invocation did, apart from the report of every run in the directory."""
    line = f"this run sent {count_calls(this_run.calls)}"
    if this_run.already_done == this_run.blocks:
        line += f": all {this_run.blocks:,} blocks were already done"
    elif this_run.already_done:
        line += f"; {this_run.already_done:,} of {this_run.blocks:,} blocks were already done"
    if this_run.earlier_calls:
        line += (
            f"; the report below also covers the {count_calls(this_run.earlier_calls)} of earlier "
            "runs in this directory"
        )
    lines = [line]
    if this_run.calls:
        lines += render_pairs([("this run cost", _this_run_cost(this_run))])
    lines.append(f"run report        every run in {out_dir}:")
    return lines


def _this_run_cost(this_run: ThisRun) -> str:
    line = (
        f"{usd(this_run.actual)} for {this_run.answered:,} blocks answered by the model; "
        f"{usd(this_run.baseline)} at one uncached call per block"
    )
    if not this_run.actual:
        return line + "; nothing was paid"
    return f"{line} ({describe_ratio(float(this_run.baseline / this_run.actual))})"


def _tail_lines(outcome: JobOutcome) -> list[str]:
    timing = outcome.timing
    line = f"mode: {outcome.mode.value}; wall time {timing.wall_seconds:.1f} s"
    if timing.batch_seconds is not None:
        line += (
            f"; {timing.batches} batches of {timing.batch_items} packs in "
            f"{timing.batch_seconds:.1f} s from first submission to last end"
        )
    counts = ", ".join(f"{count} {name}" for name, count in sorted(outcome.outcomes.items()))
    return [line, f"blocks: {counts}; outputs in {outcome.out_dir}"]


def print_outcome(console: Console | None, outcome: JobOutcome) -> None:
    """This invocation's summary, then the report of every run in the run directory."""
    if console is None:
        parts = [*_this_run_lines(outcome.this_run, outcome.out_dir), render_table(outcome.report)]
        if outcome.what_if is not None:
            parts.append(render_what_if(outcome.what_if))
        parts += [render_breakdown(outcome.breakdown), *_tail_lines(outcome)]
        print("\n".join(parts), flush=True)
        return
    this_run = outcome.this_run
    mine = [
        ("sent", count_calls(this_run.calls)),
        ("blocks", f"{this_run.blocks:,}, {this_run.already_done:,} of them already done"),
    ]
    if this_run.calls:
        mine.append(("cost", _this_run_cost(this_run)))
    console.print(_heading("This run"), _pairs_table(mine))
    covers = f"Every run in {outcome.out_dir}"
    if this_run.earlier_calls:
        covers += (
            f" ({count_calls(this_run.calls)} of this run, "
            f"{count_calls(this_run.earlier_calls)} of earlier runs)"
        )
    sections = report_sections(outcome.report)
    label, *numbers = TOKEN_COLUMNS
    tokens = Table(label, *(Column(name, justify="right") for name in numbers))
    for name, *cells in sections.token_rows:
        tokens.add_row(Text(name), *map(Text, cells))
    renderables: list[RenderableType] = [
        Text(""),
        _heading(covers),
        _pairs_table(sections.head),
        tokens,
        _pairs_table(sections.tail),
    ]
    if outcome.what_if is not None:
        renderables.append(Text(render_what_if(outcome.what_if), style="yellow"))
    pairs, savings = breakdown_sections(outcome.breakdown)
    saved = Table("saved by", Column("amount", justify="right"), Column("share", justify="right"))
    for name, amount, share in savings:
        saved.add_row(Text(name.removeprefix("saved by ")), Text(amount), Text(share.strip()))
    renderables += [
        Text(""),
        _heading("Where the blocks went"),
        _pairs_table(pairs),
        saved,
        *map(Text, _tail_lines(outcome)),
    ]
    console.print(Group(*renderables))


def print_forecast(console: Console | None, heading: str, rows: Sequence[ForecastRow]) -> None:
    """``blockpass estimate``'s table: one row per strategy, notes under it."""
    if console is None:
        print(heading)
        print(render_forecast(rows), flush=True)
        return
    cells, notes = forecast_cells(rows)
    console.print(Text(heading))
    table = Table()
    table.add_column(FORECAST_COLUMNS[0])
    for name in FORECAST_COLUMNS[1:-1]:
        table.add_column(name, justify="right")
    table.add_column(FORECAST_COLUMNS[-1])
    for row in cells:
        table.add_row(*map(Text, row))
    console.print(table)
    for note in notes:
        console.print(Text(note))


def _heading(title: str) -> Text:
    # Printed apart: a table's own title wraps at the table's width.
    return Text(title, style="bold")


def _pairs_table(pairs: Pairs) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in pairs:
        grid.add_row(Text(label), Text(value))
    return grid
