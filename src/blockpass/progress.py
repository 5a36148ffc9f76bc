"""A one-line progress bar on stderr, shown only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self._stream = stream = stream or sys.stderr
        self._width = width
        self._total = 0
        self._done = 0
        self._shown_at = 0.0
        self._enabled = stream.isatty()

    def start(self, total: int, done: int) -> None:
        self._total, self._done = total, done
        self._show(force=True)

    def advance(self, count: int) -> None:
        self._done += count
        self._show(force=self._done >= self._total)

    def finish(self) -> None:
        if self._enabled and self._total:
            self._stream.write("\n")

    def _show(self, *, force: bool) -> None:
        now = time.monotonic()
        if not self._enabled or not self._total or (not force and now - self._shown_at < 0.1):
            return
        self._shown_at = now
        filled = self._width * self._done // self._total
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(f"\r[{bar}] {self._done}/{self._total} blocks")
        self._stream.flush()
