"""Core value types: documents and the blocks they are cut into.

A block is the unit of work: one model verdict per block. Its `id` is stable across runs
(document id plus position, or plus the user's own id for JSONL) so results can be matched
to the same block next time, and its `content_hash` covers kind and text only, so an
unchanged block that moved is still recognised for reuse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST_ITEM = "list_item"
    BLOCKQUOTE = "blockquote"
    CODE = "code"
    TABLE = "table"
    HTML = "html"
    IMAGE_ONLY = "image_only"
    THEMATIC_BREAK = "thematic_break"
    FRONT_MATTER = "front_matter"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """Where a block's text sits in the document's raw bytes.

    `start`/`end` are UTF-8 byte offsets, so `raw[start:end]` is the block text and
    write-back can splice without re-encoding the rest. `line` and `column` (1-based,
    column in characters) locate the start for human-facing output such as lint alerts.
    """

    start: int
    end: int
    line: int = 1
    column: int = 1

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"invalid span {self.start}..{self.end}")


def content_hash(kind: BlockKind, text: str) -> str:
    """Hash of what the model sees; position is left out on purpose so moved blocks reuse."""
    digest = hashlib.sha256(f"{kind.value}\x00{text}".encode())
    return digest.hexdigest()[:32]


def block_id(document_id: str, local_id: int | str) -> str:
    return f"{document_id}#{local_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    id: str
    document_id: str
    index: int
    kind: BlockKind
    text: str
    span: Span | None
    content_hash: str
    # The id the input gave this block (JSONL, JSON), kept so results can be joined back on
    # it; None when the reader numbered the block itself. The block id already holds it, so
    # the store keeps no copy and equality ignores it.
    source_id: str | None = field(default=None, compare=False)

    @classmethod
    def create(
        cls,
        *,
        document_id: str,
        index: int,
        kind: BlockKind,
        text: str,
        span: Span | None = None,
        source_id: str | None = None,
    ) -> Block:
        """Build a block, deriving `content_hash` and its `id`.

        The id is the document id and the block's position, or, for formats where the user
        already names blocks (JSONL), the document id and that name: ids are scoped to their
        document, so the same name in two files, or a name like `a.md#0`, is never another
        document's block.
        """
        return cls(
            id=block_id(document_id, index if source_id is None else source_id),
            document_id=document_id,
            index=index,
            kind=kind,
            text=text,
            span=span,
            content_hash=content_hash(kind, text),
            source_id=source_id,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Document:
    """One input file: its exact bytes and the blocks cut from them.

    `raw` is kept so write-back can reproduce every byte that no block edit touched.
    """

    id: str
    path: Path | None
    format: str
    raw: bytes
    blocks: tuple[Block, ...]

    def block(self, block_id: str) -> Block:
        for candidate in self.blocks:
            if candidate.id == block_id:
                return candidate
        raise KeyError(block_id)


REUSED = "reused"
RULES = "rules"


class Verdict(StrEnum):
    OK = "ok"
    EDIT = "edit"
    FLAG = "flag"


class Outcome(StrEnum):
    """How a block ended: every block ends in exactly one of these."""

    RESULT = "result"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Edit:
    find: str
    replace: str
    rule: str
    source: str = "model"


@dataclass(frozen=True, slots=True, kw_only=True)
class BlockResult:
    """The end of one block: a verdict, or the recorded reason it was skipped or failed.

    `rejected_edits` are edits whose `find` does not occur in the block: they are kept for
    the record and never applied. `call_id` names the provider call that produced a result.
    `reason` says why a block was skipped or failed; on a result, it says where a result
    that no call of this run produced came from (`REUSED`: an earlier result for the same
    text and task; `RULES`: the rule engine alone).
    """

    block_id: str
    content_hash: str
    outcome: Outcome
    verdict: Verdict | None = None
    edits: tuple[Edit, ...] = ()
    notes: tuple[str, ...] = ()
    rejected_edits: tuple[Edit, ...] = ()
    reason: str = ""
    call_id: int | None = None
    # The lane (provider and model) whose call produced it; "" for skips and the rule engine.
    lane: str = ""
