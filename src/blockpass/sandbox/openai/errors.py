"""OpenAI's error body, ``{"error": {"message", "type", "param", "code"}}``, on the shared
``ApiError``: the sandbox's vendor-neutral parts raise ``ApiError`` and the OpenAI routes
render it in this shape, with ``param`` and ``code`` when the raiser knew them."""

from __future__ import annotations

from typing import Any

from blockpass.sandbox.errors import ApiError


class OpenAIApiError(ApiError):
    def __init__(
        self,
        status: int,
        error_type: str,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, error_type, message, headers=headers)
        self.param = param
        self.code = code


def invalid(message: str, param: str | None = None, code: str | None = None) -> OpenAIApiError:
    return OpenAIApiError(400, "invalid_request_error", message, param=param, code=code)


def unsupported_parameter(param: str, message: str) -> OpenAIApiError:
    return invalid(message, param, "unsupported_parameter")


def not_found(message: str, param: str | None = None) -> OpenAIApiError:
    return OpenAIApiError(404, "invalid_request_error", message, param=param)


def error_body(error: ApiError) -> dict[str, Any]:
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": getattr(error, "param", None),
            "code": getattr(error, "code", None),
        }
    }
