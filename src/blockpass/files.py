"""Reading the files a user names: only regular files, never more than a bound.

Inputs, guides, rule packages, Vale configurations and price files all come from paths a
user types, and any of them may turn out to be a FIFO (a read blocks forever), a device
such as ``/dev/zero`` (a read never ends) or simply huge. Every such read goes through here,
so each fails with one line naming the path instead of hanging or exhausting memory.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from blockpass.errors import UserInputError

__all__ = [
    "CONFIG_LIMIT",
    "file_kind",
    "format_size",
    "read_bytes",
    "read_text",
    "run_directory_errors",
]

# Guides, rule files, Vale configurations and price tables: text a person wrote.
CONFIG_LIMIT = 64 << 20


def read_bytes(path: Path, *, limit: int, what: str = "an input file") -> bytes:
    """The bytes of the regular file at `path` (symlinks followed), refusing more than `limit`.

    Anything else is refused before a byte is read: a FIFO would block forever and a device
    such as `/dev/zero` never ends. The file is opened without blocking and checked again
    after opening, so a path swapped for a FIFO in between cannot hang the run either, and
    it is read with a bound, so nothing larger than `limit` is ever held in memory.
    """
    try:
        _require_regular(path, os.stat(path).st_mode)
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise UserInputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with open(descriptor, "rb") as handle:
        _require_regular(path, os.fstat(descriptor).st_mode)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise UserInputError(f"{path}: larger than {format_size(limit)}, the limit for {what}")
    return data


def format_size(size: int) -> str:
    """`64 MiB`, `1 GiB`: limits are round binary sizes."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} bytes"


def file_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    )
    return next((word for test, word in kinds if test(mode)), "a special file")


def _require_regular(path: Path, mode: int) -> None:
    kind = file_kind(mode)
    if kind == "a directory":
        raise UserInputError(f"{path}: is a directory, expected a file")
    if kind is not None:
        raise UserInputError(f"{path}: is {kind}, not a regular file; only regular files are read")


def read_text(path: Path, *, what: str, limit: int = CONFIG_LIMIT) -> str:
    """The UTF-8 text of the regular file at ``path``; ``what`` names it in errors."""
    data = read_bytes(path, limit=limit, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserInputError(
            f"{path}: {what} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start})"
        ) from None


@contextmanager
def run_directory_errors(failure: str, advice: str = "") -> Iterator[None]:
    """A path in the run directory the system refuses (a file where a folder must be, a
    folder where a file must be, /proc, no permission, a full disk) is the user's to fix:
    one line naming the path, never a traceback."""
    try:
        yield
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        raise UserInputError(f"{failure}{where}: {error.strerror or error}{advice}") from None
