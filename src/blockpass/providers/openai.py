"""OpenAI Chat Completions and the Responses API through the official SDK (async), for OpenAI
and compatible servers.

A profile's ``api`` picks the endpoint (``endpoint``); both bodies come from the same pieces
and both answers are read by ``parse_response_body``, which is also how an async batch reads
a Batch output line, so realtime and batch cannot parse differently.

The SDK's own retries are off: the executor retries, so it can adapt concurrency and record
every attempt. The stable prefix goes first and byte-identical: the response format (or the
result tool), then a system message (``request.system``), then the pack as the user message.
On the Responses API the format is ``text.format`` and the tool is flat, and the system text
is a system input message rather than ``instructions``: ``instructions`` is a plain string and
cannot carry the cache breakpoint below, and one shape on both APIs keeps them in step.
``prompt_cache_key`` carries ``request.cache_key`` so that requests sharing the prefix are
routed to the same cache.

Caching (``PROVIDERS.md``): models before GPT-5.6 cache automatically in 128-token blocks and
need nothing. GPT-5.6 and later place their implicit breakpoint at the latest user message,
which is the pack, so a new pack would miss and rewrite everything at 1.25x input: there the
system message's one text block carries an explicit ``prompt_cache_breakpoint`` (a ``text``
part on Chat Completions, an ``input_text`` part on Responses) and ``prompt_cache_options``
turns the implicit one off. A compatible server (``compatible_profile``) gets neither: those
fields are OpenAI's own, and servers that cache prefixes do so without being asked.
"""

from __future__ import annotations

import contextlib
import re
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx2
import openai
import pydantic
from openai.types.chat import ChatCompletion
from openai.types.responses import Response

from blockpass.errors import (
    BlockpassError,
    Overloaded,
    ProviderRejected,
    RateLimited,
    SpendLimitReached,
    TransientProviderError,
    UserInputError,
)
from blockpass.packformat import RESULT_TOOL_NAME
from blockpass.providers.base import (
    COMPATIBLE_PROVIDER,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    OutputMechanism,
    RateLimitBucket,
    RateLimitState,
    StopReason,
    WireApi,
)
from blockpass.providers.openai_input import (
    chat_messages,
    conversation,
    response_items,
    tool_call,
)
from blockpass.providers.tooldefs import result_tool, to_chat_completions, to_responses
from blockpass.providers.transport import CLIENT_TIMEOUT, connection_failure
from blockpass.tokens import TokenizerFamily
from blockpass.usage import Usage

if TYPE_CHECKING:
    from blockpass.providers.batches import BatchApi

__all__ = ["COMPATIBLE_PROVIDER", "OpenAIProvider", "compatible_profile", "translate_error"]

_ENDPOINTS = {WireApi.CHAT: "/v1/chat/completions", WireApi.RESPONSES: "/v1/responses"}
# The Responses API rejects a smaller max_output_tokens ("Expected a value >= 16", public
# issue reports); a larger ceiling costs nothing that is not generated.
_MIN_RESPONSES_OUTPUT = 16
_FIRST_BREAKPOINT_GENERATION = (5, 6)
_GENERATION = re.compile(r"^gpt-(\d+)(?:\.(\d+))?")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_STOP_REASONS = {
    "stop": StopReason.END,
    "length": StopReason.OUTPUT_LIMIT,
    "tool_calls": StopReason.TOOL_CALL,
    "function_call": StopReason.TOOL_CALL,
    "content_filter": StopReason.REFUSAL,
}
_INCOMPLETE_REASONS = {
    "max_output_tokens": StopReason.OUTPUT_LIMIT,
    "content_filter": StopReason.REFUSAL,
}
_BUCKETS = {"requests": RateLimitBucket.REQUESTS, "tokens": RateLimitBucket.TOKENS}


def compatible_profile(model: str, *, context_window: int, max_output: int) -> ModelProfile:
    """A user-stated profile for a model behind any OpenAI-compatible server.

    Nothing is known about such a server's prefix cache, so no minimum length is assumed.
    """
    if context_window <= 0 or max_output <= 0 or max_output >= context_window:
        raise UserInputError(
            f"model {model!r}: the context window ({context_window}) must be positive and "
            f"larger than the maximum output ({max_output})"
        )
    return ModelProfile(
        id=model,
        provider=COMPATIBLE_PROVIDER,
        context_window=context_window,
        max_output=max_output,
        min_cacheable=0,
        tokenizer=TokenizerFamily.CLASSIC,
        output=OutputMechanism.JSON_SCHEMA,
    )


class OpenAIProvider:
    def __init__(
        self,
        *,
        profile: ModelProfile,
        api_key: str,
        base_url: str | None = None,
        name: str = "openai",
    ) -> None:
        self._profile = profile
        self._name = name
        self._responses = profile.api is WireApi.RESPONSES
        self._breakpoints = _takes_cache_breakpoints(profile)
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=CLIENT_TIMEOUT
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def profile(self) -> ModelProfile:
        return self._profile

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client, shared with the batch adapter (``openai_batches.py``)."""
        return self._client

    @property
    def endpoint(self) -> str:
        """The API path a request body goes to, as a Batch input line's ``url`` names it."""
        return _ENDPOINTS[self._profile.api]

    @property
    def batches(self) -> BatchApi:
        # Imported here: the batch adapter builds on this module's translations.
        from blockpass.providers.openai_batches import OpenAIBatches

        return OpenAIBatches(self)

    async def aclose(self) -> None:
        await self._client.close()

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The exact body sent to ``endpoint``; everything before the user input is the cached
        prefix."""
        body = self._responses_body(request) if self._responses else self._chat_body(request)
        if request.cache_key:
            body["prompt_cache_key"] = request.cache_key
        if self._breakpoints:
            body["prompt_cache_options"] = {"mode": "explicit", "ttl": "30m"}
        return body

    def parse_response_body(self, body: dict[str, Any]) -> ModelResponse:
        """The answer in a response body from ``endpoint`` (also a Batch output line's
        ``response.body``); no rate limits, which only realtime headers carry."""
        try:
            if self._responses:
                return _read_response(Response.model_validate(body))
            return _read_chat(ChatCompletion.model_validate(body))
        except pydantic.ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise TransientProviderError(
                f"{self._name} answered {self.endpoint} with a body the SDK cannot read "
                f"({where}: {first['msg']})"
            ) from None

    async def complete(self, request: ModelRequest) -> ModelResponse:
        try:
            body, headers = await self._post(self.request_body(request))
        except openai.APIStatusError as error:
            raise translate_error(error) from None
        except (openai.APIConnectionError, httpx2.TransportError) as error:
            raise connection_failure(self._name, self._client.base_url, error) from None
        return replace(self.parse_response_body(body), rate_limits=_rate_limits(headers))

    async def _post(self, body: dict[str, Any]) -> tuple[dict[str, Any], httpx2.Headers]:
        if self._responses:
            raw = await self._client.responses.with_raw_response.create(**body)
            return raw.http_response.json(), raw.headers
        chat = await self._client.chat.completions.with_raw_response.create(**body)
        return chat.http_response.json(), chat.headers

    def _chat_body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model, "max_completion_tokens": request.max_tokens}
        tools = [to_chat_completions(tool) for tool in request.tools]
        if self._profile.output is OutputMechanism.JSON_SCHEMA:
            body["response_format"] = {"type": "json_schema", "json_schema": _json_schema(request)}
            body |= {"tools": tools} if tools else {}
        else:
            named = {"type": "function", "function": {"name": RESULT_TOOL_NAME}}
            result = to_chat_completions(result_tool(request.schema))
            body |= self._tool_fields([result, *tools], named)
        body["messages"] = [
            *conversation(request, text_part="text", breakpoints=self._breakpoints),
            *(
                message
                for turn in request.turns
                for message in chat_messages(turn, breakpoints=self._breakpoints)
            ),
        ]
        return body

    def _responses_body(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "max_output_tokens": max(request.max_tokens, _MIN_RESPONSES_OUTPUT),
        }
        tools = [to_responses(tool) for tool in request.tools]
        if self._profile.output is OutputMechanism.JSON_SCHEMA:
            body["text"] = {"format": {"type": "json_schema", **_json_schema(request)}}
            body |= {"tools": tools} if tools else {}
        else:
            named = {"type": "function", "name": RESULT_TOOL_NAME}
            body |= self._tool_fields([to_responses(result_tool(request.schema)), *tools], named)
        body["input"] = [
            *conversation(request, text_part="input_text", breakpoints=self._breakpoints),
            *(
                item
                for turn in request.turns
                for item in response_items(turn, breakpoints=self._breakpoints)
            ),
        ]
        return body

    def _tool_fields(self, tools: list[dict[str, Any]], named: dict[str, Any]) -> dict[str, Any]:
        # Forced, the model must call a tool: the result tool alone, or any tool when it has
        # others to call first ("required").
        forced = self._profile.output is OutputMechanism.STRICT_TOOL_FORCED
        choice = "auto" if not forced else "required" if len(tools) > 1 else named
        return {
            "tools": tools,
            "tool_choice": choice,
            # Strict schemas are not guaranteed for parallel calls, and one call is the answer.
            "parallel_tool_calls": False,
        }


def _takes_cache_breakpoints(profile: ModelProfile) -> bool:
    """GPT-5.6 and later, on OpenAI itself: the generation is read from the model id."""
    match = _GENERATION.match(profile.id)
    if profile.provider != "openai" or match is None:
        return False
    generation = (int(match[1]), int(match[2] or 0))
    return generation >= _FIRST_BREAKPOINT_GENERATION


def _json_schema(request: ModelRequest) -> dict[str, Any]:
    return {"name": RESULT_TOOL_NAME, "schema": request.schema, "strict": True}


def _read_chat(completion: ChatCompletion) -> ModelResponse:
    text, stop_reason = _answer(completion)
    calls = completion.choices[0].message.tool_calls if completion.choices else None
    return ModelResponse(
        text=text,
        stop_reason=stop_reason,
        usage=_usage(completion),
        tool_calls=tuple(
            tool_call(call.id, call.function.name, call.function.arguments)
            for call in calls or []
            if call.type == "function" and call.function.name != RESULT_TOOL_NAME
        ),
    )


def _answer(completion: ChatCompletion) -> tuple[str, StopReason]:
    if not completion.choices:
        return "", StopReason.END
    choice = completion.choices[0]
    message = choice.message
    if message.refusal:
        return "", StopReason.REFUSAL
    stop_reason = _STOP_REASONS.get(choice.finish_reason, StopReason.END)
    for call in message.tool_calls or []:
        if call.type == "function" and call.function.name == RESULT_TOOL_NAME:
            return call.function.arguments, stop_reason
    return message.content or "", stop_reason


def _usage(completion: ChatCompletion) -> Usage:
    usage = completion.usage
    if usage is None:
        return Usage()
    details = usage.prompt_tokens_details
    return _priced(
        prompt=usage.prompt_tokens,
        cached=(details.cached_tokens or 0) if details else 0,
        written=(details.cache_write_tokens or 0) if details else 0,
        output=usage.completion_tokens,
    )


def _read_response(response: Response) -> ModelResponse:
    if response.status == "failed":
        error = response.error
        raise TransientProviderError(
            f"the response failed: {error.message if error else 'no reason given'}"
        )
    text, stop_reason = _response_answer(response)
    return ModelResponse(
        text=text,
        stop_reason=stop_reason,
        usage=_response_usage(response),
        tool_calls=tuple(
            tool_call(item.call_id, item.name, item.arguments)
            for item in response.output
            if item.type == "function_call" and item.name != RESULT_TOOL_NAME
        ),
    )


def _response_answer(response: Response) -> tuple[str, StopReason]:
    """The result and why the model stopped; a function call of any tool is a tool call
    (the API has no stop reason of its own for it)."""
    stop_reason = StopReason.END
    details = response.incomplete_details
    if response.status == "incomplete" and details is not None and details.reason is not None:
        stop_reason = _INCOMPLETE_REASONS.get(details.reason, stop_reason)
    calls = [item for item in response.output if item.type == "function_call"]
    if calls and stop_reason is StopReason.END:
        stop_reason = StopReason.TOOL_CALL
    for item in response.output:
        if item.type == "function_call" and item.name == RESULT_TOOL_NAME:
            return item.arguments, stop_reason
        if item.type == "message" and any(part.type == "refusal" for part in item.content):
            return "", StopReason.REFUSAL
    return response.output_text, stop_reason


def _response_usage(response: Response) -> Usage:
    usage = response.usage
    if usage is None:
        return Usage()
    details = usage.input_tokens_details
    return _priced(
        prompt=usage.input_tokens,
        cached=details.cached_tokens,
        written=details.cache_write_tokens,
        output=usage.output_tokens,
    )


def _priced(*, prompt: int, cached: int, written: int, output: int) -> Usage:
    """OpenAI's prompt count includes the cached and written tokens; blockpass's classes do
    not overlap."""
    return Usage(
        uncached_input=max(0, prompt - cached - written),
        # OpenAI's one write price (30-minute retention) is priced in the 5m write class.
        cache_write_5m=written,
        cache_read=cached,
        output=output,
    )


def _rate_limits(headers: httpx2.Headers) -> RateLimitState | None:
    remaining: dict[RateLimitBucket, int] = {}
    reset_at: dict[RateLimitBucket, float] = {}
    limits: dict[RateLimitBucket, int] = {}
    now = time.time()
    for header, bucket in _BUCKETS.items():
        left = headers.get(f"x-ratelimit-remaining-{header}")
        reset = headers.get(f"x-ratelimit-reset-{header}")
        limit = headers.get(f"x-ratelimit-limit-{header}")
        if left is not None and left.isdigit():
            remaining[bucket] = int(left)
        if limit is not None and limit.isdigit():
            limits[bucket] = int(limit)
        if reset:
            with contextlib.suppress(ValueError):
                reset_at[bucket] = now + _duration_seconds(reset)
    # One bucket holds prompt and output tokens; the executor checks a pack's input against
    # the input bucket, so the shared bucket stands in for it.
    if RateLimitBucket.TOKENS in remaining:
        remaining[RateLimitBucket.INPUT_TOKENS] = remaining[RateLimitBucket.TOKENS]
    if RateLimitBucket.TOKENS in reset_at:
        reset_at[RateLimitBucket.INPUT_TOKENS] = reset_at[RateLimitBucket.TOKENS]
    if not remaining:
        return None
    return RateLimitState(
        remaining=remaining, reset_at=reset_at, cached_input_counts=True, limits=limits
    )


def _duration_seconds(text: str) -> float:
    """``6m0s``, ``1.5s``, ``120ms`` in seconds."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(number) * _SECONDS[unit] for number, unit in parts)


def translate_error(error: openai.APIStatusError) -> BlockpassError:
    status = error.status_code
    body = error.body if isinstance(error.body, dict) else {}
    message = str(body.get("message") or error.message)
    if status == 429:
        if body.get("code") == "insufficient_quota":
            return SpendLimitReached(f"quota exhausted: {message}")
        return RateLimited(f"rate limited: {message}", retry_after=_retry_after(error.response))
    if status in (503, 529):
        return Overloaded(f"provider overloaded ({status}): {message}")
    if status in (408, 409) or status >= 500:
        return TransientProviderError(f"provider error {status}: {message}")
    if status == 401:
        return UserInputError("authentication failed: check the API key (OPENAI_API_KEY)")
    if status == 404:
        return UserInputError(f"not found: {message}")
    return ProviderRejected(f"request rejected ({status}): {message}")


def _retry_after(response: httpx2.Response) -> float | None:
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = response.headers.get(header)
        if value is not None:
            with contextlib.suppress(ValueError):
                return float(value) * scale
    return None
