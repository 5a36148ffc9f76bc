"""Which files of a folder are documents, and a count of everything passed over.

Users point blockpass at folders as they keep them: a documentation repository holds its
pages beside `package.json`, lock files, CI workflows, images, licences and installed
packages. A folder walk reads

- Markdown (`.md`, `.markdown`);
- JSON and JSONL in the block shape only: the first object has a string `id` and `text`,
  as the block readers expect. `package.json`, `tsconfig.json` (comments and all) or a
  lock file is passed over, never an error; a file that starts as blocks is read as
  blocks, and a defect further down is an error like in any named block file.

It passes over, counting each by reason: every other type of file; `.txt` files, which in
a repository are mostly not prose (`requirements.txt`, `LICENSE.txt`, `robots.txt`,
`CMakeLists.txt`) and would be sent to the model and edited as if they were; empty files;
and entries that are not regular files. It does not enter hidden folders (`.git`,
`.github`), folders of other people's files (`node_modules`, `vendor`, ...), Python
virtual environments, blockpass run directories (their `revised/` copies would come back
as inputs on the next run) or links to folders. Files named on the command line are
always read, whatever their type or shape.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from blockpass.files import file_kind
from blockpass.store.sqlite import RUN_FILE_NAME

__all__ = ["BLOCK_SUFFIXES", "FolderWalk", "SkippedInputs", "has_block_shape"]

READ_IN_FOLDERS = frozenset({".md", ".markdown"})
BLOCK_SUFFIXES = frozenset({".json", ".jsonl"})
NAMED_ONLY = frozenset({".txt"})
# Installed packages and generated caches: full of READMEs and licences nobody here wrote.
OTHER_PEOPLES_FOLDERS = frozenset(
    {"node_modules", "bower_components", "vendor", "site-packages", "__pycache__"}
)
# A folder holding one of these is a Python virtual environment or a blockpass run directory.
MARKER_FILES = ("pyvenv.cfg", RUN_FILE_NAME)
# How many reasons the one-line summary names before it sums up the rest.
_NAMED_REASONS = 6
_BOM = b"\xef\xbb\xbf"
_BLANK = re.compile(rb"[ \t\r\n\f\v]*\Z")
_FIRST_LINE = re.compile(rb"[^\r\n]*[^\s][^\r\n]*")
_JSON_SPACE = re.compile(r"[ \t\r\n]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class SkippedInputs:
    """What the folder walks of one command left out: files by reason, folders by name."""

    files: Mapping[str, int]
    folders: Mapping[str, int]

    def to_json(self) -> dict[str, object]:
        return {
            "total": sum(self.files.values()),
            "by_reason": dict(sorted(self.files.items())),
            "folders": dict(sorted(self.folders.items())),
        }

    def describe(self) -> str:
        """One line, most frequent reasons first; empty when nothing was left out."""
        parts = []
        if self.files:
            ranked = sorted(self.files.items(), key=lambda item: (-item[1], item[0]))
            named = [f"{count:,} {reason}" for reason, count in ranked[:_NAMED_REASONS]]
            rest = sum(count for _, count in ranked[_NAMED_REASONS:])
            if rest:
                named.append(f"{rest:,} more of {len(ranked) - _NAMED_REASONS} other kinds")
            parts.append(f"{_plural(sum(self.files.values()), 'file')}: {', '.join(named)}")
        if self.folders:
            names = [
                name if count == 1 else f"{name} ({count:,})"
                for name, count in sorted(self.folders.items())
            ]
            parts.append(f"{_plural(sum(self.folders.values()), 'folder')}: {', '.join(names)}")
        return "; ".join(parts)

    @classmethod
    def combine(cls, walks: list[FolderWalk]) -> SkippedInputs:
        files: Counter[str] = Counter()
        folders: Counter[str] = Counter()
        for walk in walks:
            files.update(walk.skipped_files)
            folders.update(walk.skipped_folders)
        return cls(files=dict(files), folders=dict(folders))


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


class FolderWalk:
    """One folder named on the command line: the files to read, and counts of the rest.

    `files()` yields candidates in a stable order (by path inside the folder); the reader
    calls `keep()` with each one's bytes, which counts and refuses empty files and JSON
    that is not blocks.
    """

    def __init__(self, root: Path, on_skip: Callable[[Path, str], None]) -> None:
        self.root = root
        self._on_skip = on_skip
        self.skipped_files: Counter[str] = Counter()
        self.skipped_folders: Counter[str] = Counter()

    def files(self) -> Iterator[Path]:
        found: list[Path] = []
        # os.walk without following links: no cycles, and no files from outside the root.
        for folder, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(name for name in dirnames if self._enters(Path(folder, name)))
            for name in sorted(filenames):
                file = Path(folder, name)
                if self._candidate(file):
                    found.append(file)
        yield from sorted(found, key=lambda file: file.relative_to(self.root).as_posix())

    def keep(self, file: Path, raw: bytes) -> bool:
        suffix = file.suffix.lower()
        if _BLANK.match(raw, len(_BOM) if raw.startswith(_BOM) else 0):
            self.skipped_files["empty"] += 1
            return False
        if suffix in BLOCK_SUFFIXES and not has_block_shape(raw, suffix):
            self.skipped_files[f"{suffix} not in block shape"] += 1
            return False
        return True

    def _enters(self, folder: Path) -> bool:
        passed_over = (
            folder.name.startswith(".")
            or folder.name in OTHER_PEOPLES_FOLDERS
            or folder.is_symlink()
            or any((folder / marker).is_file() for marker in MARKER_FILES)
        )
        if passed_over:
            self.skipped_folders[folder.name] += 1
        return not passed_over

    def _candidate(self, file: Path) -> bool:
        suffix = file.suffix.lower()
        if suffix in NAMED_ONLY:
            self.skipped_files[f"{suffix} (read only when named)"] += 1
            return False
        if suffix not in READ_IN_FOLDERS | BLOCK_SUFFIXES:
            self.skipped_files[suffix or "without suffix"] += 1
            return False
        try:
            kind = file_kind(file.stat().st_mode)
        except OSError as exc:
            self.skipped_files["unreadable"] += 1
            self._on_skip(file, f"cannot read it ({exc.strerror or exc})")
            return False
        if kind is not None:
            self.skipped_files["not regular"] += 1
            self._on_skip(file, f"it is {kind}, not a regular file")
            return False
        return True


def has_block_shape(raw: bytes, suffix: str) -> bool:
    """Whether a JSON list or JSONL file holds blocks, judged by its first item alone."""
    body = raw.removeprefix(_BOM)
    try:
        if suffix == ".jsonl":
            line = _FIRST_LINE.search(body)
            item = json.loads(line[0]) if line else None
        else:
            text = body.decode("utf-8")
            start = _space_after(text, 0)
            if not text.startswith("[", start):
                return False
            item, _ = json.JSONDecoder().raw_decode(text, _space_after(text, start + 1))
    # Invalid JSON and undecodable bytes are ValueErrors: not blocks, only someone's file.
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str)
        and isinstance(item.get("text"), str)
    )


def _space_after(text: str, position: int) -> int:
    match = _JSON_SPACE.match(text, position)
    return match.end() if match else position
