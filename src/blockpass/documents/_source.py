"""Shared plumbing for span-based readers: reading, decoding, line tables, splicing.

Readers find blocks in terms of (line, character column); write-back needs UTF-8 byte
offsets into the untouched raw bytes. `SourceText` owns that conversion so every reader
agrees on what a line is: the CommonMark definition (`\\r\\n`, `\\r` or `\\n`), which is
also what markdown-it counts, rather than `str.splitlines`, which also splits on form
feeds and Unicode separators and would put line numbers out of step.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from blockpass.blocks import Document, Span
from blockpass.errors import UserInputError

_LINE_END = re.compile(r"\r\n?|\n")
_BOM = "\ufeff"


# A BOM, or a NUL in every other byte of a text's start, means UTF-16 or UTF-32 rather than
# binary data: the message then says what the file is and what to do about it.
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_SNIFF_BYTES = 4096


def _wide_encoding(raw: bytes) -> str | None:
    for bom, name in _WIDE_BOMS:
        if raw.startswith(bom):
            return name
    head = raw[:_SNIFF_BYTES]
    even, odd = head[0::2], head[1::2]
    if len(odd) < 2:
        return None
    # Mostly-ASCII text in UTF-16 has a NUL in nearly every high byte and none in the low
    # ones; binary formats scatter their NULs without that regularity.
    for high, low in ((even, odd), (odd, even)):
        if high.count(0) >= 0.9 * len(odd) and low.count(0) == 0:
            return "UTF-16"
    return None


def decode(raw: bytes, *, name: str) -> str:
    """UTF-8 text of `raw`, refusing input that cannot be a text document."""
    wide = _wide_encoding(raw)
    if wide is not None:
        raise UserInputError(
            f"{name}: looks like {wide} text, which is not supported; convert it to UTF-8"
        )
    nul = raw.find(b"\x00")
    if nul != -1:
        raise UserInputError(
            f"{name}: looks binary (NUL byte at offset {nul}); expected UTF-8 text"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{name}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from None
    if not text.removeprefix(_BOM).strip():
        raise UserInputError(f"{name}: is empty")
    return text


class SourceText:
    """A decoded document split into lines, with character ↔ byte position mapping.

    A leading BOM belongs to no line, so no block ever includes it and write-back keeps it.
    """

    __slots__ = ("_ascii", "byte_starts", "lines", "raw")

    def __init__(self, raw: bytes, text: str) -> None:
        self.raw = raw
        offset_chars = 1 if text.startswith(_BOM) else 0
        byte_pos = len(_BOM.encode()) if offset_chars else 0
        self._ascii = text.isascii()
        self.lines: list[str] = []
        self.byte_starts: list[int] = []
        pos = offset_chars
        for match in _LINE_END.finditer(text, offset_chars):
            self._add_line(text[pos : match.start()], byte_pos)
            byte_pos += self._byte_len(self.lines[-1]) + len(match.group())
            pos = match.end()
        self._add_line(text[pos:], byte_pos)

    def _add_line(self, line: str, byte_start: int) -> None:
        self.lines.append(line)
        self.byte_starts.append(byte_start)

    def _byte_len(self, chars: str) -> int:
        return len(chars) if self._ascii else len(chars.encode())

    def byte_offset(self, line: int, column: int) -> int:
        """Byte offset of 0-based `column` (in characters) on 0-based `line`."""
        return self.byte_starts[line] + self._byte_len(self.lines[line][:column])

    def span(self, first: tuple[int, int], last: tuple[int, int]) -> Span:
        """Span from (line, column) `first` to (line, column) `last`, end exclusive."""
        start = self.byte_offset(*first)
        end = self.byte_offset(*last)
        return Span(start=start, end=end, line=first[0] + 1, column=first[1] + 1)

    def text(self, span: Span) -> str:
        """The exact source text under `span`, line endings included as they are."""
        return self.raw[span.start : span.end].decode("utf-8")

    def trimmed_end(self, first_line: int, last_line: int, start_column: int) -> tuple[int, int]:
        """End position of a block covering lines first..last, without trailing blank space.

        Trailing spaces and tabs stay outside the block: in Markdown they are hard-break
        or layout noise, and keeping them out of the text means the model never has to
        reproduce them.
        """
        line = last_line
        while line > first_line and not self.lines[line].strip(" \t"):
            line -= 1
        column = len(self.lines[line].rstrip(" \t"))
        if line == first_line:
            column = max(column, start_column)
        return line, column


def splice(document: Document, replacements: Mapping[str, str]) -> bytes:
    """`document.raw` with each replaced block's span swapped for its new text.

    Only the bytes inside replaced spans change; everything else is copied verbatim.
    """
    if not replacements:
        return document.raw
    spans: list[tuple[Span, str]] = []
    known = {block.id: block for block in document.blocks}
    for block_id, new_text in replacements.items():
        block = known.get(block_id)
        if block is None:
            raise UserInputError(f"{document.id}: no block with id {block_id!r}")
        if block.span is None:
            raise UserInputError(f"{document.id}: block {block_id!r} has no source span")
        spans.append((block.span, new_text))
    spans.sort(key=lambda item: (item[0].start, item[0].end))
    parts: list[bytes] = []
    cursor = 0
    for span, new_text in spans:
        if span.start < cursor:
            raise UserInputError(f"{document.id}: replaced blocks overlap at byte {span.start}")
        parts.append(document.raw[cursor : span.start])
        parts.append(new_text.encode("utf-8"))
        cursor = span.end
    parts.append(document.raw[cursor:])
    return b"".join(parts)
