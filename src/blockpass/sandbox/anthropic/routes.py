"""The Anthropic endpoints: authentication, error bodies, headers, streaming, faults."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from blockpass.sandbox.anthropic.batches import MAX_BYTES, batch_json
from blockpass.sandbox.anthropic.engine import Completion, complete, input_plan
from blockpass.sandbox.anthropic.request import parse_messages_request, prefix_positions
from blockpass.sandbox.errors import ApiError, invalid_request
from blockpass.sandbox.streaming import ConnectionDropped, DroppingResponse

if TYPE_CHECKING:
    from blockpass.sandbox.app import Sandbox

MAX_MESSAGE_BYTES = 32 * 1024 * 1024
DEFAULT_API_VERSION = "2023-06-01"
Handler = Callable[[Request], Awaitable[Response]]


def anthropic_routes(sandbox: Sandbox) -> list[Route]:
    def endpoint(handler: Callable[[Request, str], Awaitable[Response]]) -> Handler:
        async def wrapped(request: Request) -> Response:
            request_id = f"req_{uuid.uuid4().hex[:24]}"
            sandbox.stats.count(f"{request.method} {request.url.path}")
            try:
                _authenticate(request, sandbox.config.api_key)
                response = await handler(request, request_id)
            except ApiError as error:
                sandbox.stats.count(f"status {error.status}")
                response = JSONResponse(
                    {
                        "type": "error",
                        "error": {"type": error.error_type, "message": error.message},
                        "request_id": request_id,
                    },
                    status_code=error.status,
                    headers=error.headers,
                )
            response.headers["request-id"] = request_id
            return response

        return wrapped

    async def create_message(request: Request, request_id: str) -> Response:
        body = await _json_body(request, MAX_MESSAGE_BYTES)
        api_version = request.headers.get("anthropic-version", DEFAULT_API_VERSION)
        parsed = parse_messages_request(body, api_version=api_version)
        draw = sandbox.faults.draw()
        blocks = sandbox.responder.blocks_in(parsed.last_user_text)
        faults = sandbox.faults.shape(draw, len(blocks))
        if faults.request == "rate_limited":
            raise sandbox.limiter.scripted_limit()
        if faults.request == "overloaded":
            raise ApiError(529, "overloaded_error", "Overloaded")
        if faults.request == "server_error":
            raise ApiError(500, "api_error", "Internal server error")

        cache = sandbox.cache
        arrival_seq = cache.arrive()
        started_at = sandbox.clock.now()
        plan, total = input_plan(parsed, cache, arrival_seq=arrival_seq, started_at=started_at)
        completion = complete(
            parsed,
            plan=plan,
            total_input=total,
            cache=cache,
            started_at=started_at,
            responder=sandbox.responder,
            blocks=blocks,
            faults=faults,
            limiter=sandbox.limiter,
        )
        sandbox.stats.record_usage(completion.message["usage"])
        delay = sandbox.config.latency + (
            sandbox.faults.slow_seconds if faults.request == "slow" else 0.0
        )
        headers = completion.admission.headers if completion.admission else {}
        dropped = faults.request == "drop_connection"
        if parsed.stream:
            return StreamingResponse(
                _events(sandbox, completion, delay, dropped=dropped),
                media_type="text/event-stream",
                headers=headers,
            )
        if delay:
            await anyio.sleep(delay + sandbox.config.token_latency * completion.output_tokens)
        _finish(sandbox, completion)
        payload = json.dumps(completion.message).encode()
        if dropped:
            return DroppingResponse(payload, headers=headers)
        return Response(payload, media_type="application/json", headers=headers)

    async def count_tokens(request: Request, request_id: str) -> Response:
        body = await _json_body(request, MAX_MESSAGE_BYTES)
        api_version = request.headers.get("anthropic-version", DEFAULT_API_VERSION)
        parsed = parse_messages_request(body, api_version=api_version, count_only=True)
        sandbox.count_tokens_limiter.admit(input_tokens=0, max_output=0)
        _, total = prefix_positions(parsed)
        return JSONResponse({"input_tokens": total})

    async def create_batch(request: Request, request_id: str) -> Response:
        body = await _json_body(request, MAX_BYTES)
        api_version = request.headers.get("anthropic-version", DEFAULT_API_VERSION)
        batch = sandbox.batches.create(body, api_version=api_version)
        return JSONResponse(batch_json(batch, base_url=str(request.base_url)))

    async def retrieve_batch(request: Request, request_id: str) -> Response:
        batch = sandbox.batches.get(request.path_params["batch_id"])
        return JSONResponse(batch_json(batch, base_url=str(request.base_url)))

    async def list_batches(request: Request, request_id: str) -> Response:
        try:
            limit = int(request.query_params.get("limit", "20"))
        except ValueError:
            raise invalid_request("limit: Input should be a valid integer") from None
        if not 1 <= limit <= 1000:
            raise invalid_request("limit: Input should be between 1 and 1000")
        page = sandbox.batches.listing(
            limit=limit,
            after_id=request.query_params.get("after_id"),
            before_id=request.query_params.get("before_id"),
        )
        data = [batch_json(batch, base_url=str(request.base_url)) for batch in page[:limit]]
        return JSONResponse(
            {
                "data": data,
                "has_more": len(page) > limit,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )

    async def cancel_batch(request: Request, request_id: str) -> Response:
        batch = sandbox.batches.cancel(request.path_params["batch_id"])
        return JSONResponse(batch_json(batch, base_url=str(request.base_url)))

    async def delete_batch(request: Request, request_id: str) -> Response:
        batch_id = request.path_params["batch_id"]
        sandbox.batches.delete(batch_id)
        return JSONResponse({"id": batch_id, "type": "message_batch_deleted"})

    async def batch_results(request: Request, request_id: str) -> Response:
        content = sandbox.batches.results(request.path_params["batch_id"])
        return Response(content, media_type="application/binary")

    batch = "/v1/messages/batches/{batch_id}"
    return [
        Route("/v1/messages", endpoint(create_message), methods=["POST"]),
        Route("/v1/messages/count_tokens", endpoint(count_tokens), methods=["POST"]),
        Route("/v1/messages/batches", endpoint(create_batch), methods=["POST"]),
        Route("/v1/messages/batches", endpoint(list_batches), methods=["GET"]),
        Route(batch, endpoint(retrieve_batch), methods=["GET"]),
        Route(batch, endpoint(delete_batch), methods=["DELETE"]),
        Route(f"{batch}/cancel", endpoint(cancel_batch), methods=["POST"]),
        Route(f"{batch}/results", endpoint(batch_results), methods=["GET"]),
    ]


def _authenticate(request: Request, api_key: str) -> None:
    # SDK 2.13 sends the key as a bearer token; earlier SDKs and PROVIDERS.md use x-api-key.
    given = request.headers.get("x-api-key")
    if given is None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        given = token if scheme.lower() == "bearer" and token else None
    if given is None:
        raise ApiError(401, "authentication_error", "x-api-key header is required")
    if given != api_key:
        raise ApiError(401, "authentication_error", "invalid x-api-key")


async def _json_body(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413, "request_too_large", f"Request exceeds the maximum size of {limit} bytes."
        )
    raw = await request.body()
    if len(raw) > limit:
        raise ApiError(
            413, "request_too_large", f"Request exceeds the maximum size of {limit} bytes."
        )
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid_request("The request body is not valid JSON.") from None


def _finish(sandbox: Sandbox, completion: Completion) -> None:
    """The response has begun: the cache entries it wrote become readable."""
    sandbox.cache.publish(completion.commit)
    if completion.admission is not None:
        sandbox.limiter.settle(completion.admission, output_tokens=completion.output_tokens)


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


async def _events(
    sandbox: Sandbox, completion: Completion, delay: float, *, dropped: bool
) -> AsyncIterator[bytes]:
    """The documented event sequence, one content block at a time."""
    if delay:
        await anyio.sleep(delay)
    _finish(sandbox, completion)
    message = completion.message
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield _sse({"type": "message_start", "message": start})
    yield _sse({"type": "ping"})
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening: dict[str, Any] = {"type": "text", "text": ""}
            pieces = _chunks(block["text"])
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
        else:
            opening = {**block, "input": {}}
            pieces = _chunks(json.dumps(block["input"]))
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        yield _sse({"type": "content_block_start", "index": index, "content_block": opening})
        for number, delta in enumerate(deltas):
            if dropped and number == len(deltas) // 2:
                raise ConnectionDropped
            if sandbox.config.token_latency:
                await anyio.sleep(sandbox.config.token_latency * 16)
            yield _sse({"type": "content_block_delta", "index": index, "delta": delta})
        yield _sse({"type": "content_block_stop", "index": index})
    if dropped:
        raise ConnectionDropped
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {
                "input_tokens": usage["input_tokens"],
                "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
                "cache_read_input_tokens": usage["cache_read_input_tokens"],
                "output_tokens": usage["output_tokens"],
            },
        }
    )
    yield _sse({"type": "message_stop"})


def _chunks(text: str, size: int = 64) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]
