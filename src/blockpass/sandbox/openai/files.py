"""Files: upload (multipart, ``purpose=batch``), retrieve, content, list and delete.

Only what the Batch API needs: batch input files uploaded by the client and the output and
error files the sandbox writes for finished batches (``purpose=batch_output``). Files live in
memory. A batch input file may hold 200 MB (``PROVIDERS.md``); the check is made at upload.

The multipart body is parsed here rather than through Starlette's form parser, which would
need the ``python-multipart`` package for one endpoint of a test double.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from blockpass.sandbox.clock import Clock
from blockpass.sandbox.openai.errors import OpenAIApiError, invalid, not_found

MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
# Room for the multipart envelope around the largest file the Batch API takes.
MAX_UPLOAD_BYTES = MAX_BATCH_FILE_BYTES + 1024 * 1024
_DISPOSITION_PARAM = re.compile(r';\s*(\w+)="([^"]*)"')


@dataclass(slots=True, kw_only=True)
class StoredFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": int(self.created_at),
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }


@dataclass(slots=True)
class FileStore:
    clock: Clock
    _files: dict[str, StoredFile] = field(default_factory=dict)

    def upload(self, body: bytes, content_type: str) -> StoredFile:
        fields = parse_multipart(body, content_type)
        purpose = fields.get("purpose", (None, b""))[1].decode("utf-8", "replace")
        if purpose != "batch":
            raise invalid(
                f"Invalid value for 'purpose': the sandbox accepts 'batch' only, got {purpose!r}.",
                "purpose",
            )
        if "file" not in fields:
            raise invalid(
                "Missing required parameter: 'file'.", "file", "missing_required_parameter"
            )
        filename, content = fields["file"]
        if len(content) > MAX_BATCH_FILE_BYTES:
            raise invalid(
                "File is too large: batch input files may hold at most "
                f"{MAX_BATCH_FILE_BYTES} bytes.",
                "file",
            )
        return self.add(filename or "upload.jsonl", purpose, content)

    def add(self, filename: str, purpose: str, content: bytes) -> StoredFile:
        stored = StoredFile(
            id=f"file-{uuid.uuid4().hex[:24]}",
            filename=filename,
            purpose=purpose,
            content=content,
            created_at=self.clock.now(),
        )
        self._files[stored.id] = stored
        return stored

    def get(self, file_id: str) -> StoredFile:
        stored = self._files.get(file_id)
        if stored is None:
            raise not_found(f"No such File object: {file_id}", "id")
        return stored

    def delete(self, file_id: str) -> None:
        self.get(file_id)
        del self._files[file_id]

    def listing(self, purpose: str | None) -> list[StoredFile]:
        files = sorted(self._files.values(), key=lambda stored: stored.created_at, reverse=True)
        return [stored for stored in files if purpose is None or stored.purpose == purpose]


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """Form fields by name: (filename or None, raw value)."""
    kind, _, params = content_type.partition(";")
    boundary = re.search(r'boundary="?([^";]+)"?', params)
    if kind.strip().lower() != "multipart/form-data" or boundary is None:
        raise invalid("Expected a multipart/form-data body with a boundary.")
    delimiter = b"--" + boundary[1].encode()
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        head, separator, value = part.partition(b"\r\n\r\n")
        if not separator:
            raise OpenAIApiError(400, "invalid_request_error", "A multipart part has no headers.")
        params_found: dict[str, str] = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            if line.lower().startswith("content-disposition:"):
                params_found = dict(_DISPOSITION_PARAM.findall(line))
        if "name" in params_found:
            fields[params_found["name"]] = (
                params_found.get("filename"),
                value.removesuffix(b"\r\n"),
            )
    return fields
