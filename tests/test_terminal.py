"""What the terminal shows: live progress and Rich tables on a terminal, plain text elsewhere."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from rich.console import Console

from blockpass.forecast import forecast_cells
from blockpass.prices import load_prices
from blockpass.progress import Spend
from blockpass.store import BatchItemRecord, BatchState, CallRecord, StoredBatch
from blockpass.terminal import RunProgress, console_for, print_forecast
from blockpass.usage import Usage
from tests.test_forecast import five_blocks

SHOW_CURSOR = "\x1b[?25h"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def recording_console() -> Console:
    return Console(
        file=io.StringIO(), force_terminal=True, width=200, record=True, color_system="standard"
    )


def screen(console: Console) -> str:
    return console.export_text(styles=False)


def test_the_live_progress_shows_blocks_rate_time_left_calls_money_and_the_saving() -> None:
    console, clock = recording_console(), Clock()
    with RunProgress(console, clock=clock) as progress:
        progress.start(100, 10)
        clock.now += 1
        progress.advance(10)
        clock.now += 2
        progress.advance(20)
        progress.spent(Spend(calls=3, blocks=30, actual=Decimal("0.01"), baseline=Decimal("0.05")))
    shown = screen(console)
    assert "40/100" in shown
    # 20 blocks in the 2 s since the first sample: 10 blocks/s, so 60 blocks take 6 s.
    assert "10.0 blocks/s" in shown
    assert "0m 06s left" in shown
    assert "3 calls, $0.010000 spent, saved $0.040000" in shown


def test_an_empty_job_and_a_resumed_run_with_every_block_done_show_as_done() -> None:
    for total in (0, 7):
        console = recording_console()
        with RunProgress(console, clock=Clock()) as progress:
            progress.start(total, total)
        shown = screen(console)
        assert f"{total}/{total}" in shown
        assert "done" in shown
        assert "0 calls, $0.000000 spent" in shown


def test_a_ctrl_c_stops_the_display_and_restores_the_cursor_before_anything_else_is_printed() -> (
    None
):
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=120)
    progress = RunProgress(console, clock=Clock())

    def interrupted_run() -> None:
        with progress:
            progress.start(10, 2)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_run()
    written = stream.getvalue()
    # The cursor is shown again, on a fresh line below the bar's last frame: the message
    # printed next is neither hidden nor written over the bar.
    assert written.endswith("\n" + SHOW_CURSOR)
    assert "2/10" in written.splitlines()[-2]


def batch_of(packs: int) -> StoredBatch:
    items = tuple(
        BatchItemRecord(custom_id=f"p{number}", block_ids=("b",)) for number in range(packs)
    )
    return StoredBatch(
        id=1, label="", provider="sandbox", remote_id="msgbatch_1", state=BatchState.SUBMITTED,
        remote_status="", priming=False, created_at=0.0, submitted_at=0.0, ended_at=None,
        items=items,
    )  # fmt: skip


def test_in_batch_mode_the_progress_counts_batches_submitted_and_ended_and_packs_answered() -> None:
    console = recording_console()
    answered = CallRecord(
        pack_id="p0", provider="sandbox", model="claude-sonnet-4-5", block_ids=("b",),
        usage=Usage(), batch=True, status="ok", started_at=0.0, finished_at=0.0,
    )  # fmt: skip
    with RunProgress(console, clock=Clock()) as progress:
        progress.start(9, 0)
        progress.batch_submitted(batch_of(1))
        progress.batch_submitted(batch_of(3))
        progress.batch_ended(batch_of(1))
        progress.call(answered)
    assert "batches 1/2 ended, packs 1/4 answered" in screen(console)


def test_off_a_terminal_or_with_plain_there_is_no_console_and_no_progress() -> None:
    piped = io.StringIO()
    assert console_for(piped, plain=False, color=True) is None
    with RunProgress(None) as progress:
        progress.start(3, 0)
        progress.advance(3)
    assert piped.getvalue() == ""


def test_a_run_priced_at_zero_shows_no_saving_it_did_not_make() -> None:
    console = recording_console()
    with RunProgress(console, clock=Clock()) as progress:
        progress.start(2, 0)
        progress.spent(Spend(calls=1, blocks=2))
    shown = screen(console)
    assert "1 call, $0.000000 spent" in shown
    assert "saved" not in shown


def test_on_a_terminal_the_forecast_is_a_table_with_the_plain_cells_and_notes_under_it() -> None:
    rows = five_blocks(load_prices().for_model("claude-sonnet-4-5"), min_cacheable=4_096)
    console = recording_console()
    print_forecast(console, "5 blocks", rows)
    shown = screen(console)
    cells, notes = forecast_cells(rows)
    for row in cells:
        assert re.search(r"\s*│\s*".join(map(re.escape, row)), shown), row
    assert shown.rstrip().endswith(notes[-1])
