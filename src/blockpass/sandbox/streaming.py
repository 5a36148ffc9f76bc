"""Responses that break on purpose: a connection dropped in the middle of a body.

uvicorn closes the connection when an app raises after the response has started, which is
what a client sees when a real server or proxy drops it: an incomplete body.
"""

from __future__ import annotations

import logging

from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class ConnectionDropped(Exception):
    """Raised inside a response to cut the connection (an injected fault)."""


class DroppingResponse(Response):
    """Announces the whole body, sends half of it, then drops the connection."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send(
            {
                "type": "http.response.body",
                "body": self.body[: len(self.body) // 2],
                "more_body": True,
            }
        )
        raise ConnectionDropped


class HideInjectedDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every fault it was asked to inject."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and _is_drop(record.exc_info[1]))


def _is_drop(error: BaseException | None) -> bool:
    if isinstance(error, BaseExceptionGroup):
        return all(_is_drop(inner) for inner in error.exceptions)
    return isinstance(error, ConnectionDropped)
