"""Documents in, blocks out; and edited blocks back into documents.

The reader is chosen by file suffix. Write-back (`render_document`) changes only the bytes
of the blocks it is given new text for, so a run with no edits reproduces every input file
byte for byte.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from blockpass.blocks import Document
from blockpass.documents import jsonl, markdown, text
from blockpass.documents._source import read_bytes, splice
from blockpass.errors import UserInputError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "read_document",
    "read_documents",
    "render_document",
]


class _Reader(Protocol):
    def __call__(self, raw: bytes, *, document_id: str, path: Path | None = None) -> Document: ...


_READERS: dict[str, _Reader] = {
    ".md": markdown.read_markdown,
    ".markdown": markdown.read_markdown,
    ".txt": text.read_text,
    ".jsonl": jsonl.read_jsonl,
    ".json": jsonl.read_json,
}
SUPPORTED_SUFFIXES = frozenset(_READERS)


def read_document(path: Path, *, document_id: str) -> Document:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UserInputError(f"{path}: unsupported file type (supported: {supported})")
    return reader(read_bytes(path), document_id=document_id, path=path)


def read_documents(paths: list[Path]) -> list[Document]:
    """Read files and, recursively, directories, in a stable order.

    A file's document id is its path as given (posix form); a file found under a directory
    gets its path relative to that directory, so ids do not depend on where the run was
    started from. Inside directories only supported suffixes are read, and hidden folders
    (`.git`, `.github`, ...) are skipped. Hidden files are read: a name like `..md` is a
    real page (tldr's page for the `.` command).
    """
    if not paths:
        raise UserInputError("no input paths given")
    documents: list[Document] = []
    seen: dict[str, Path] = {}
    for path in paths:
        if path.is_dir():
            found = _files_under(path)
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
            documents.append(read_document(file, document_id=document_id))
    return documents


def _files_under(root: Path) -> list[Path]:
    found: list[Path] = []
    # os.walk without following links: no cycles, and no files from outside the root.
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if not name.startswith("."))
        for name in sorted(filenames):
            if Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(Path(folder, name))
    return sorted(found, key=lambda file: file.relative_to(root).as_posix())


def render_document(document: Document, replacements: Mapping[str, str]) -> bytes:
    """The document's bytes with the given blocks' texts replaced (block id → new text)."""
    if document.format in (jsonl.JSONL_FORMAT, jsonl.JSON_FORMAT):
        return jsonl.render_json_blocks(document, replacements)
    return splice(document, replacements)
