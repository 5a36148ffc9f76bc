"""The OpenAI endpoints: Chat Completions (plain and streamed), Responses (plain), Files and
Batches.

Authentication is ``Authorization: Bearer <key>`` against the sandbox's key; every error is
rendered as ``{"error": {"message", "type", "param", "code"}}``. The vendor has its own prompt
cache, rate limiter, files and batches (``OpenAIState``, kept on the sandbox as
``sandbox.openai`` so that the app can advance the batches), and shares the clock, faults,
responder, stats and webhook sender with the rest of the sandbox.

Injected request faults map to the API's own failures: ``rate_limited`` a 429 with
``Retry-After``, ``overloaded`` a 503 ``server_is_overloaded``, ``server_error`` a 500.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from blockpass.sandbox.errors import ApiError
from blockpass.sandbox.openai.batches import Batch, OpenAIBatchStore, batch_json
from blockpass.sandbox.openai.cache import OpenAIPromptCache
from blockpass.sandbox.openai.engine import Completion, complete, input_plan
from blockpass.sandbox.openai.errors import OpenAIApiError, error_body, invalid
from blockpass.sandbox.openai.files import MAX_UPLOAD_BYTES, FileStore
from blockpass.sandbox.openai.ratelimit import OpenAIRateLimiter
from blockpass.sandbox.openai.request import ChatRequest, parse_chat_request
from blockpass.sandbox.openai.responses import parse_responses_request, response_body
from blockpass.sandbox.streaming import ConnectionDropped, DroppingResponse

if TYPE_CHECKING:
    from blockpass.sandbox.app import Sandbox

MAX_REQUEST_BYTES = 32 * 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class OpenAIState:
    def __init__(self, sandbox: Sandbox) -> None:
        config = sandbox.config
        self.cache = OpenAIPromptCache()
        self.limiter = OpenAIRateLimiter(
            sandbox.clock,
            requests_per_minute=config.requests_per_minute,
            tokens_per_minute=config.input_tokens_per_minute,
        )
        self.files = FileStore(sandbox.clock)
        webhooks = sandbox.webhooks

        def on_finished(batch: Batch, event: str) -> None:
            if webhooks is not None:
                webhooks.announce(event, batch.id, at=batch.times[batch.status])

        self.batches = OpenAIBatchStore(
            clock=sandbox.clock,
            responder=sandbox.responder,
            faults=sandbox.faults,
            settings=config.batches,
            files=self.files,
            cache=self.cache,
            on_created=lambda batch: sandbox.stats.batch_created("openai", len(batch.items)),
            on_finished=on_finished,
        )


def openai_routes(sandbox: Sandbox) -> list[Route]:
    state = sandbox.openai

    def endpoint(handler: Handler) -> Handler:
        async def wrapped(request: Request) -> Response:
            request_id = f"req_{uuid.uuid4().hex}"
            sandbox.stats.count(f"{request.method} {request.url.path}")
            try:
                _authenticate(request, sandbox.config.api_key)
                response = await handler(request)
            except ApiError as error:
                sandbox.stats.count(f"status {error.status}")
                response = JSONResponse(
                    error_body(error), status_code=error.status, headers=error.headers
                )
            response.headers["x-request-id"] = request_id
            return response

        return wrapped

    def run(parsed: ChatRequest) -> _Run:
        """Faults, the cache plan, the rate limiter and the answer: the same for both APIs."""
        blocks = sandbox.responder.blocks_in(parsed.last_user_text)
        faults = sandbox.faults.shape(sandbox.faults.draw(), len(blocks))
        if faults.request == "rate_limited":
            raise state.limiter.scripted_limit(parsed.model.id)
        if faults.request == "overloaded":
            raise OpenAIApiError(
                503,
                "server_error",
                "The server is overloaded. Please try again later.",
                code="server_is_overloaded",
            )
        if faults.request == "server_error":
            raise OpenAIApiError(
                500, "server_error", "The server had an error while processing your request."
            )
        now = sandbox.clock.now()
        plan = input_plan(parsed, state.cache, arrival_seq=state.cache.arrive(), now=now)
        completion = complete(
            parsed,
            plan=plan,
            cache=state.cache,
            now=now,
            responder=sandbox.responder,
            blocks=blocks,
            faults=faults,
            limiter=state.limiter,
        )
        _record_usage(sandbox, completion.body["usage"])
        delay = sandbox.config.latency + (
            sandbox.faults.slow_seconds if faults.request == "slow" else 0.0
        )
        return _Run(completion=completion, delay=delay, dropped=faults.request == "drop_connection")

    async def reply(run: _Run, body: dict[str, Any]) -> Response:
        if run.delay:
            await anyio.sleep(
                run.delay + sandbox.config.token_latency * run.completion.output_tokens
            )
        _finish(state, run.completion)
        payload = json.dumps(body).encode()
        if run.dropped:
            return DroppingResponse(payload, headers=run.headers)
        return Response(payload, media_type="application/json", headers=run.headers)

    async def chat_completions(request: Request) -> Response:
        parsed = parse_chat_request(await _body(request, MAX_REQUEST_BYTES))
        done = run(parsed)
        if parsed.stream:
            events = _events(
                state,
                done.completion,
                done.delay,
                include_usage=parsed.include_usage,
                dropped=done.dropped,
            )
            return StreamingResponse(events, media_type="text/event-stream", headers=done.headers)
        return await reply(done, done.completion.body)

    async def responses(request: Request) -> Response:
        parsed = parse_responses_request(await _body(request, MAX_REQUEST_BYTES))
        done = run(parsed.chat)
        return await reply(done, response_body(parsed, done.completion))

    async def upload_file(request: Request) -> Response:
        body = await _raw(request, MAX_UPLOAD_BYTES)
        stored = state.files.upload(body, request.headers.get("content-type", ""))
        return JSONResponse(stored.as_json())

    async def list_files(request: Request) -> Response:
        files = state.files.listing(request.query_params.get("purpose"))
        return JSONResponse(
            {"object": "list", "data": [stored.as_json() for stored in files], "has_more": False}
        )

    async def retrieve_file(request: Request) -> Response:
        return JSONResponse(state.files.get(request.path_params["file_id"]).as_json())

    async def delete_file(request: Request) -> Response:
        file_id = request.path_params["file_id"]
        state.files.delete(file_id)
        return JSONResponse({"id": file_id, "object": "file", "deleted": True})

    async def file_content(request: Request) -> Response:
        stored = state.files.get(request.path_params["file_id"])
        return Response(stored.content, media_type="application/octet-stream")

    async def create_batch(request: Request) -> Response:
        batch = state.batches.create(await _body(request, MAX_REQUEST_BYTES))
        return JSONResponse(batch_json(batch))

    async def retrieve_batch(request: Request) -> Response:
        return JSONResponse(batch_json(state.batches.get(request.path_params["batch_id"])))

    async def cancel_batch(request: Request) -> Response:
        return JSONResponse(batch_json(state.batches.cancel(request.path_params["batch_id"])))

    async def list_batches(request: Request) -> Response:
        try:
            limit = int(request.query_params.get("limit", "20"))
        except ValueError:
            raise invalid("Invalid 'limit': expected an integer.", "limit") from None
        if not 1 <= limit <= 100:
            raise invalid("Invalid 'limit': expected a value between 1 and 100.", "limit")
        page = state.batches.listing(limit=limit, after=request.query_params.get("after"))
        data = [batch_json(batch) for batch in page[:limit]]
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
                "has_more": len(page) > limit,
            }
        )

    file_path = "/v1/files/{file_id}"
    batch_path = "/v1/batches/{batch_id}"
    return [
        Route("/v1/chat/completions", endpoint(chat_completions), methods=["POST"]),
        Route("/v1/responses", endpoint(responses), methods=["POST"]),
        Route("/v1/files", endpoint(upload_file), methods=["POST"]),
        Route("/v1/files", endpoint(list_files), methods=["GET"]),
        Route(file_path, endpoint(retrieve_file), methods=["GET"]),
        Route(file_path, endpoint(delete_file), methods=["DELETE"]),
        Route(f"{file_path}/content", endpoint(file_content), methods=["GET"]),
        Route("/v1/batches", endpoint(create_batch), methods=["POST"]),
        Route("/v1/batches", endpoint(list_batches), methods=["GET"]),
        Route(batch_path, endpoint(retrieve_batch), methods=["GET"]),
        Route(f"{batch_path}/cancel", endpoint(cancel_batch), methods=["POST"]),
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Run:
    completion: Completion
    delay: float
    dropped: bool

    @property
    def headers(self) -> dict[str, str]:
        admission = self.completion.admission
        return admission.headers if admission else {}


def _authenticate(request: Request, api_key: str) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise OpenAIApiError(
            401,
            "invalid_request_error",
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if token != api_key:
        shown = f"{token[:3]}*****{token[-4:]}" if len(token) > 8 else "*****"
        raise OpenAIApiError(
            401,
            "invalid_request_error",
            f"Incorrect API key provided: {shown}.",
            code="invalid_api_key",
        )


async def _raw(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = OpenAIApiError(
        413, "invalid_request_error", f"Request exceeds the maximum size of {limit} bytes."
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    raw = await request.body()
    if len(raw) > limit:
        raise too_large
    return raw


async def _body(request: Request, limit: int) -> Any:
    try:
        return json.loads(await _raw(request, limit))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise invalid("We could not parse the JSON body of your request.") from None


def _record_usage(sandbox: Sandbox, usage: dict[str, Any]) -> None:
    counters = sandbox.stats.usage
    counters["prompt_tokens"] += usage["prompt_tokens"]
    counters["completion_tokens"] += usage["completion_tokens"]
    for key in ("cached_tokens", "cache_write_tokens"):
        counters[key] += usage["prompt_tokens_details"].get(key, 0)


def _finish(state: OpenAIState, completion: Completion) -> None:
    """The response has begun: the cache entries it wrote become readable."""
    state.cache.publish(completion.commit)
    if completion.admission is not None:
        state.limiter.settle(completion.admission, output_tokens=completion.output_tokens)


async def _events(
    state: OpenAIState, completion: Completion, delay: float, *, include_usage: bool, dropped: bool
) -> AsyncIterator[bytes]:
    """``chat.completion.chunk`` events, a usage chunk when asked for, then ``[DONE]``."""
    if delay:
        await anyio.sleep(delay)
    _finish(state, completion)
    body = completion.body
    choice = body["choices"][0]
    message = choice["message"]
    frame = {
        key: body[key] for key in ("id", "created", "model", "service_tier", "system_fingerprint")
    }
    frame["object"] = "chat.completion.chunk"
    extra = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        event = {
            **frame,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
            **extra,
        }
        return f"data: {json.dumps(event)}\n\n".encode()

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    deltas: list[dict[str, Any]]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        opening = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        deltas = [{"tool_calls": [opening]}]
        deltas += [
            {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}
            for piece in _chunks(call["function"]["arguments"])
        ]
    elif message["refusal"] is not None:
        deltas = [{"refusal": piece} for piece in _chunks(message["refusal"])]
    else:
        deltas = [{"content": piece} for piece in _chunks(message["content"])]
    for number, delta in enumerate(deltas):
        if dropped and number == len(deltas) // 2:
            raise ConnectionDropped
        yield chunk(delta)
    yield chunk({}, choice["finish_reason"])
    if include_usage:
        yield f"data: {json.dumps({**frame, 'choices': [], 'usage': body['usage']})}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _chunks(text: str, size: int = 64) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)] or [""]
