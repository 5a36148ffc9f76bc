"""Pre-cut blocks as JSON: JSONL (one object a line) or JSON (a list of objects).

Each object is `{"id": str, "kind": str, "text": str}`; `kind` may be left out and then
means `paragraph`. The user's id is kept as the block's `source_id`, because whoever cut the
blocks already has ids to join results back on; the block id is scoped to the file
(`blocks.jsonl#p1`), so files that reuse ids never share results. An id twice in one file is
refused. Blocks here have no span; write-back rewrites only the objects whose text changed
and keeps every other line byte for byte.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from blockpass.blocks import Block, BlockKind, Document
from blockpass.documents._source import decode
from blockpass.errors import UserInputError

JSONL_FORMAT = "jsonl"
JSON_FORMAT = "json"
# One line and its break (the same breaks `bytes.splitlines` uses in write-back, so line
# numbers agree), or a last line without one.
_LINE = re.compile(r"([^\r\n]*)(?:\r\n?|\n)|([^\r\n]+)$")
_KINDS = ", ".join(kind.value for kind in BlockKind)
# The json module recurses once per nesting level; blocks are flat objects.
_TOO_DEEP = "JSON nested too deeply (a block is a flat object with id, kind and text)"


def read_jsonl(raw: bytes, *, document_id: str, path: Path | None = None) -> Document:
    name = str(path or document_id)
    text = decode(raw, name=name).removeprefix("\ufeff")

    # One pass, line by line: a block file can hold millions of blocks, and neither its lines
    # nor its parsed objects should all be alive at once.
    def items() -> Iterator[tuple[str, object]]:
        for number, match in enumerate(_LINE.finditer(text), start=1):
            line = match[1] if match[1] is not None else match[2]
            if not line.strip():
                continue
            try:
                yield f"line {number}", json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserInputError(f"{name}: line {number}: invalid JSON ({exc.msg})") from None
            except RecursionError:
                raise UserInputError(f"{name}: line {number}: {_TOO_DEEP}") from None

    return _document(items(), document_id=document_id, path=path, format=JSONL_FORMAT, raw=raw)


def read_json(raw: bytes, *, document_id: str, path: Path | None = None) -> Document:
    name = str(path or document_id)
    text = decode(raw, name=name)
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        raise UserInputError(
            f"{name}: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})"
        ) from None
    except RecursionError:
        raise UserInputError(f"{name}: {_TOO_DEEP}") from None
    if not isinstance(data, list):
        raise UserInputError(f"{name}: expected a JSON list of block objects")
    items = [(f"item {number}", item) for number, item in enumerate(data, start=1)]
    return _document(items, document_id=document_id, path=path, format=JSON_FORMAT, raw=raw)


def _document(
    items: Iterable[tuple[str, object]],
    *,
    document_id: str,
    path: Path | None,
    format: str,
    raw: bytes,
) -> Document:
    blocks: list[Block] = []
    seen: dict[str, str] = {}
    for where, item in items:
        located = f"{path or document_id}: {where}"
        block_id, kind, text = _fields(item, where=located)
        if block_id in seen:
            first = seen[block_id]
            raise UserInputError(f"{located}: duplicate id {block_id!r} (first at {first})")
        seen[block_id] = where
        blocks.append(
            Block.create(
                document_id=document_id,
                index=len(blocks),
                kind=kind,
                text=text,
                source_id=block_id,
            )
        )
    return Document(id=document_id, path=path, format=format, raw=raw, blocks=tuple(blocks))


def _fields(item: object, *, where: str) -> tuple[str, BlockKind, str]:
    if not isinstance(item, dict):
        raise UserInputError(f"{where}: expected an object with id, kind and text")
    block_id = item.get("id")
    if not isinstance(block_id, str) or not block_id:
        raise UserInputError(f"{where}: 'id' must be a non-empty string")
    text = item.get("text")
    if not isinstance(text, str):
        raise UserInputError(f"{where}: 'text' must be a string")
    for name, value in (("id", block_id), ("text", text)):
        _refuse_lone_surrogates(value, where=f"{where}: {name!r}")
    kind_name = item.get("kind", BlockKind.PARAGRAPH.value)
    try:
        kind = BlockKind(kind_name)
    except ValueError:
        raise UserInputError(
            f"{where}: unknown kind {kind_name!r} (expected one of: {_KINDS})"
        ) from None
    return block_id, kind, text


def _refuse_lone_surrogates(value: str, *, where: str) -> None:
    """JSON's ``\\ud800`` escape spells half a character, which no UTF-8 text can hold: the
    store, the hashes and every provider would fail on it later, far from its line."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        half = ord(value[exc.start])
        raise UserInputError(
            f"{where} holds a lone surrogate (\\u{half:04x}), which is not text; fix the escape"
        ) from None


def render_json_blocks(document: Document, replacements: Mapping[str, str]) -> bytes:
    """The document's JSON/JSONL with replaced texts; untouched JSONL lines keep their bytes."""
    known = {block.id: block.source_id for block in document.blocks}
    for block_id in replacements:
        if block_id not in known:
            raise UserInputError(f"{document.id}: no block with id {block_id!r}")
    if not replacements:
        return document.raw
    # The file names its blocks by the user's ids.
    by_source = {known[block_id]: text for block_id, text in replacements.items()}
    if document.format == JSON_FORMAT:
        data: list[dict[str, Any]] = json.loads(document.raw.decode("utf-8").removeprefix("\ufeff"))
        for item in data:
            if item["id"] in by_source:
                item["text"] = by_source[item["id"]]
        return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    out: list[bytes] = []
    # Lines are re-serialised only when their text changed, so extra fields and the
    # user's formatting survive everywhere else.
    for line in document.raw.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        decoded = body.decode("utf-8").removeprefix("\ufeff")
        if decoded.strip():
            obj: dict[str, Any] = json.loads(decoded)
            if obj["id"] in by_source:
                obj["text"] = by_source[obj["id"]]
                bom = b"\xef\xbb\xbf" if body.startswith(b"\xef\xbb\xbf") else b""
                line = bom + json.dumps(obj, ensure_ascii=False).encode() + line[len(body) :]
        out.append(line)
    return b"".join(out)


def write_blocks_jsonl(blocks: Iterable[Block]) -> bytes:
    """Blocks as JSONL that `read_jsonl` reads back with the same ids, kinds and texts."""
    lines = (
        json.dumps(
            {"id": block.id, "kind": block.kind.value, "text": block.text}, ensure_ascii=False
        )
        + "\n"
        for block in blocks
    )
    return "".join(lines).encode("utf-8")
