"""An API error raised anywhere in the sandbox and rendered in the vendor's own body shape."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = headers or {}


def invalid_request(message: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message)
