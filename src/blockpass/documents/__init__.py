"""Documents in, blocks out; and edited blocks back into documents.

The reader is chosen by file suffix. Write-back (`render_document`) changes only the bytes
of the blocks it is given new text for, so a run with no edits reproduces every input file
byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from blockpass.blocks import Document
from blockpass.documents import jsonl, markdown, text
from blockpass.documents._source import splice
from blockpass.documents.folders import FolderWalk, SkippedInputs
from blockpass.errors import UserInputError
from blockpass.files import read_bytes

__all__ = [
    "MAX_BLOCK_FILE_BYTES",
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_SUFFIXES",
    "Inputs",
    "SkippedInputs",
    "parse_document",
    "read_document",
    "read_documents",
    "read_inputs",
    "render_document",
]


class _Reader(Protocol):
    def __call__(self, raw: bytes, *, document_id: str, path: Path | None = None) -> Document: ...


# Prose documents larger than this are not documents but accidents (a log, a dump); block
# files hold a whole collection, one block a line, and may be far larger.
MAX_DOCUMENT_BYTES = 64 << 20
MAX_BLOCK_FILE_BYTES = 1 << 30

_READERS: dict[str, tuple[_Reader, int]] = {
    ".md": (markdown.read_markdown, MAX_DOCUMENT_BYTES),
    ".markdown": (markdown.read_markdown, MAX_DOCUMENT_BYTES),
    ".txt": (text.read_text, MAX_DOCUMENT_BYTES),
    ".jsonl": (jsonl.read_jsonl, MAX_BLOCK_FILE_BYTES),
    ".json": (jsonl.read_json, MAX_BLOCK_FILE_BYTES),
}
SUPPORTED_SUFFIXES = frozenset(_READERS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Inputs:
    """The documents a command line names, and what its folder walks passed over."""

    documents: tuple[Document, ...]
    skipped: SkippedInputs


def read_document(path: Path, *, document_id: str) -> Document:
    reader, raw = _read_raw(path)
    return reader(raw, document_id=document_id, path=path)


def parse_document(raw: bytes, *, path: Path, document_id: str) -> Document:
    """A document from bytes read before (a distributed run keeps them in its store), by
    the suffix of the path they were read from."""
    found = _READERS.get(path.suffix.lower())
    if found is None:
        raise UserInputError(f"{path}: unsupported file type")
    return found[0](raw, document_id=document_id, path=path)


def _read_raw(path: Path) -> tuple[_Reader, bytes]:
    found = _READERS.get(path.suffix.lower())
    if found is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UserInputError(f"{path}: unsupported file type (supported: {supported})")
    reader, limit = found
    return reader, read_bytes(path, limit=limit, what=f"a {path.suffix} input file")


def read_documents(
    paths: list[Path], *, on_skip: Callable[[Path, str], None] = lambda path, reason: None
) -> list[Document]:
    """The documents of `read_inputs`, for callers that need not say what was passed over."""
    return list(read_inputs(paths, on_skip=on_skip).documents)


def read_inputs(
    paths: list[Path], *, on_skip: Callable[[Path, str], None] = lambda path, reason: None
) -> Inputs:
    """Read files and, recursively, folders, in a stable order.

    A file named on the command line is read whatever its type or shape, with its path as
    given (posix form) as its document id. A folder is walked as `folders.py` says: its
    documents are read and everything else is counted in `Inputs.skipped`. A file found in
    the only path named gets its path relative to that folder, so ids do not depend on where
    the run was started from; when several paths are named, every file gets its path as
    given (`docs/README.md`, `website/README.md`), so folders that share file names meet
    nowhere, and the ids are the same whatever the order of the paths. Hidden files are
    read: a name like `..md` is a real page (tldr's page for the `.` command).

    Only regular files (or links to them) are read. A path named explicitly that is anything
    else (a FIFO, a device) is an error; such an entry inside a folder is passed to
    `on_skip` with the reason, counted and left out. Block ids are unique across the
    documents read.
    """
    if not paths:
        raise UserInputError("no input paths given")
    documents: list[Document] = []
    walks: list[FolderWalk] = []
    seen: set[str] = set()

    # With several paths an id is the path as given, so only a file named twice can meet
    # itself here (a folder and a file in it, or one folder twice).
    def take(file: Path, document_id: str) -> None:
        if document_id in seen:
            raise UserInputError(
                f"{file}: named twice (document id {document_id!r} is already taken)"
            )
        seen.add(document_id)

    for path in paths:
        if path.is_dir():
            walk = FolderWalk(path, on_skip)
            walks.append(walk)
            read_here = len(documents)
            for file in walk.files():
                document_id = (file if len(paths) > 1 else file.relative_to(path)).as_posix()
                take(file, document_id)
                reader, raw = _read_raw(file)
                if walk.keep(file, raw):
                    documents.append(reader(raw, document_id=document_id, path=file))
            if len(documents) == read_here:
                skipped = SkippedInputs.combine([walk]).describe()
                raise UserInputError(
                    f"{path}: no documents to read in this folder"
                    + (f"; skipped {skipped}" if skipped else "")
                )
        elif path.exists():
            take(path, path.as_posix())
            documents.append(read_document(path, document_id=path.as_posix()))
        else:
            raise UserInputError(f"{path}: no such file or directory")
    _refuse_shared_block_ids(documents)
    return Inputs(documents=tuple(documents), skipped=SkippedInputs.combine(walks))


def _refuse_shared_block_ids(documents: list[Document]) -> None:
    """Refuse a block id two documents share: results are stored by block id.

    Every block id is `<document id>#<position or user id>`, so two documents' block ids can
    meet only when one document id extends the other past a `#` (a file `a.jsonl#b.md`
    beside `a.jsonl` holding the id `b.md#0`): only those pairs are compared.
    """
    by_id = {document.id: document for document in documents}
    for document in documents:
        for position, char in enumerate(document.id):
            other = by_id.get(document.id[:position]) if char == "#" else None
            if other is None:
                continue
            shared = {block.id for block in document.blocks} & {b.id for b in other.blocks}
            if shared:
                raise UserInputError(
                    f"{document.id}: block id {min(shared)!r} is also a block id of {other.id};"
                    " rename one"
                )


def render_document(document: Document, replacements: Mapping[str, str]) -> bytes:
    """The document's bytes with the given blocks' texts replaced (block id → new text)."""
    if document.format in (jsonl.JSONL_FORMAT, jsonl.JSON_FORMAT):
        return jsonl.render_json_blocks(document, replacements)
    return splice(document, replacements)
