"""Documents in, blocks out; and edited blocks back into documents.

The reader is chosen by file suffix. Write-back (`render_document`) changes only the bytes
of the blocks it is given new text for, so a run with no edits reproduces every input file
byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from blockpass.blocks import Document
from blockpass.documents import jsonl, markdown, text
from blockpass.documents._source import NotADocument, splice
from blockpass.errors import UserInputError
from blockpass.files import file_kind, read_bytes
from blockpass.store.sqlite import RUN_FILE_NAME

__all__ = [
    "MAX_BLOCK_FILE_BYTES",
    "MAX_DOCUMENT_BYTES",
    "SUPPORTED_SUFFIXES",
    "read_document",
    "read_documents",
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


def read_document(path: Path, *, document_id: str) -> Document:
    found = _READERS.get(path.suffix.lower())
    if found is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UserInputError(f"{path}: unsupported file type (supported: {supported})")
    reader, limit = found
    return reader(
        read_bytes(path, limit=limit, what=f"a {path.suffix} input file"),
        document_id=document_id,
        path=path,
    )


def read_documents(
    paths: list[Path], *, on_skip: Callable[[Path, str], None] = lambda path, reason: None
) -> list[Document]:
    """Read files and, recursively, directories, in a stable order.

    A file's document id is its path as given (posix form); a file found under a directory
    gets its path relative to that directory, so ids do not depend on where the run was
    started from. Inside directories only supported suffixes are read, and hidden folders
    (`.git`, `.github`, ...) are skipped. Hidden files are read: a name like `..md` is a
    real page (tldr's page for the `.` command). A run directory found inside a directory
    (one holding a run store, such as the default `blockpass-run` of a run started in the
    input folder) is passed to `on_skip`: its revised copies and reports are outputs, and
    reading them back would check and pay for every document twice.

    Only regular files (or links to them) are read. A path named explicitly that is anything
    else (a FIFO, a device) or no document (empty, JSON that is no list) is an error; such
    an entry inside a directory is passed to `on_skip` with the reason and left out. Block
    ids are unique across the documents read.
    """
    if not paths:
        raise UserInputError("no input paths given")
    documents: list[Document] = []
    seen: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            found = _files_under(path, on_skip)
            if not found:
                raise UserInputError(f"{path}: no supported documents in this directory")
            entries = [(file, file.relative_to(path).as_posix()) for file in found]
        elif path.exists():
            entries = [(path, path.as_posix())]
        else:
            raise UserInputError(f"{path}: no such file or directory")
        for file, document_id in entries:
            if document_id in seen:
                raise UserInputError(
                    f"{file}: document id {document_id!r} is already taken by {seen[document_id]}"
                )
            seen[document_id] = file
            try:
                documents.append(read_document(file, document_id=document_id))
            except NotADocument as error:
                if file == path:
                    raise  # named on its own
                on_skip(file, error.skip_reason)
    _refuse_shared_block_ids(documents)
    return documents


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


def _files_under(root: Path, on_skip: Callable[[Path, str], None]) -> list[Path]:
    found: list[Path] = []
    # os.walk without following links: no cycles, and no files from outside the root.
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        for name in [name for name in dirnames if Path(folder, name, RUN_FILE_NAME).is_file()]:
            dirnames.remove(name)
            on_skip(Path(folder, name), "it is a blockpass run directory")
        for name in sorted(filenames):
            if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                continue
            file = Path(folder, name)
            try:
                kind = file_kind(file.stat().st_mode)
            except OSError as exc:
                on_skip(file, f"cannot read it ({exc.strerror or exc})")
                continue
            if kind is None:
                found.append(file)
            else:
                on_skip(file, f"it is {kind}, not a regular file")
    return sorted(found, key=lambda file: file.relative_to(root).as_posix())


def render_document(document: Document, replacements: Mapping[str, str]) -> bytes:
    """The document's bytes with the given blocks' texts replaced (block id → new text)."""
    if document.format in (jsonl.JSONL_FORMAT, jsonl.JSON_FORMAT):
        return jsonl.render_json_blocks(document, replacements)
    return splice(document, replacements)
