"""Plain text → blocks: one paragraph block per run of non-blank lines.

A line is blank when it holds only whitespace. A paragraph's text runs from its first
non-blank character to its last, so indentation before it and trailing spaces after it stay
in the raw bytes and are never sent to the model.
"""

from __future__ import annotations

from pathlib import Path

from blockpass.blocks import Block, BlockKind, Document
from blockpass.documents._source import SourceText, decode

FORMAT = "text"


def read_text(raw: bytes, *, document_id: str, path: Path | None = None) -> Document:
    source = SourceText(raw, decode(raw, name=str(path or document_id)))
    blocks: list[Block] = []
    first: int | None = None
    # A sentinel blank line at the end closes the last paragraph without special-casing.
    for number, line in enumerate([*source.lines, ""]):
        if line.strip():
            if first is None:
                first = number
            continue
        if first is None:
            continue
        start_line = source.lines[first]
        start = (first, len(start_line) - len(start_line.lstrip()))
        end_line = source.lines[number - 1]
        span = source.span(start, (number - 1, len(end_line.rstrip())))
        blocks.append(
            Block.create(
                document_id=document_id,
                index=len(blocks),
                kind=BlockKind.PARAGRAPH,
                text=source.text(span),
                span=span,
            )
        )
        first = None
    return Document(id=document_id, path=path, format=FORMAT, raw=raw, blocks=tuple(blocks))
