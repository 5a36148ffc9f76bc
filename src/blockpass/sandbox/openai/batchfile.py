"""The Batch API's files: the rules of an input file and the lines of the result files.

An input file is JSONL, one ``{"custom_id", "method": "POST", "url", "body"}`` per line
(``PROVIDERS.md``), every ``url`` the batch's endpoint: ``/v1/chat/completions`` or
``/v1/responses`` (``item_request`` reads an item for either). A file that breaks the rules
(bad JSON, a line without ``custom_id``, a duplicate id, a URL other than the batch's
endpoint, more than one model, more than 50,000 requests or 200 MB) fails the whole batch at
validation; the error codes are the sandbox's own names where the real ones are unknown. A
result line is ``{"id", "custom_id", "response": {"status_code", "request_id", "body"},
"error"}``, with ``response`` null and ``error`` set for a request that never ran.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from blockpass.sandbox.openai.engine import Completion
from blockpass.sandbox.openai.files import MAX_BATCH_FILE_BYTES
from blockpass.sandbox.openai.request import ChatRequest, parse_chat_request
from blockpass.sandbox.openai.responses import parse_responses_request, response_body

MAX_REQUESTS = 50_000
ENDPOINT = "/v1/chat/completions"
RESPONSES_ENDPOINT = "/v1/responses"
ENDPOINTS = (ENDPOINT, RESPONSES_ENDPOINT)
Render = Callable[[Completion], dict[str, Any]]
MAX_REPORTED_ERRORS = 100


@dataclass(slots=True, kw_only=True)
class Item:
    custom_id: str
    body: object
    response: dict[str, Any] | None = None
    error: dict[str, str] | None = None

    @property
    def succeeded(self) -> bool:
        return self.response is not None and self.response["status_code"] == 200


def read_input(
    content: bytes, endpoint: str = ENDPOINT
) -> tuple[list[Item], str | None, list[dict[str, Any]]]:
    """The file's requests, their one model, and what fails the batch at validation."""
    items: list[Item] = []
    models: set[str] = set()
    errors: list[dict[str, Any]] = []

    def fail(code: str, message: str, line: int | None = None, param: str | None = None) -> None:
        if len(errors) < MAX_REPORTED_ERRORS:
            errors.append({"code": code, "message": message, "param": param, "line": line})

    if len(content) > MAX_BATCH_FILE_BYTES:
        fail("file_too_large", f"The input file exceeds {MAX_BATCH_FILE_BYTES} bytes.")
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            fail("invalid_json_line", "This line is not parseable as valid JSON.", number)
            continue
        custom_id = entry.get("custom_id") if isinstance(entry, dict) else None
        if not isinstance(custom_id, str) or not custom_id:
            fail(
                "missing_required_parameter",
                "Each line needs a string custom_id.",
                number,
                "custom_id",
            )
            continue
        if custom_id in seen:
            fail(
                "duplicate_custom_id",
                f"The custom_id {custom_id!r} appears more than once.",
                number,
                "custom_id",
            )
        seen.add(custom_id)
        if entry.get("method") != "POST" or entry.get("url") != endpoint:
            fail(
                "invalid_url",
                f"Each line must be a POST to {endpoint}, the batch's endpoint.",
                number,
                "url",
            )
        body = entry.get("body")
        if not isinstance(body, dict):
            fail("missing_required_parameter", "Each line needs a body object.", number, "body")
            continue
        models.add(str(body.get("model")))
        items.append(Item(custom_id=custom_id, body=body))
    if len(items) > MAX_REQUESTS:
        fail(
            "too_many_requests",
            f"A batch may hold at most {MAX_REQUESTS} requests; this file has {len(items)}.",
        )
    if len(models) > 1:
        fail("mismatched_model", "All requests in a batch must use the same model.", param="model")
    if not items and not errors:
        fail("empty_file", "The input file holds no requests.")
    return items, next(iter(models)) if len(models) == 1 else None, errors


def item_request(endpoint: str, body: object) -> tuple[ChatRequest, Render]:
    """An item's request for the engine, and how the engine's answer is written as the
    endpoint's response body (``Completion.body`` is always the chat completion)."""
    if endpoint == RESPONSES_ENDPOINT:
        parsed = parse_responses_request(body, in_batch=True)
        return parsed.chat, partial(response_body, parsed)
    return parse_chat_request(body, in_batch=True), _chat_body


def _chat_body(completion: Completion) -> dict[str, Any]:
    return completion.body


def http_result(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"status_code": status, "request_id": f"req_{uuid.uuid4().hex[:24]}", "body": body}


def result_lines(items: list[Item]) -> bytes:
    return b"".join(
        json.dumps(
            {
                "id": f"batch_req_{uuid.uuid4().hex[:24]}",
                "custom_id": item.custom_id,
                "response": item.response,
                "error": item.error,
            }
        ).encode()
        + b"\n"
        for item in items
    )
