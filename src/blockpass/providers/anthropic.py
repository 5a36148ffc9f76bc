"""Anthropic Messages API through the official SDK (async).

The SDK's own retries are off: the executor retries, so it can adapt concurrency and record
every attempt. Only request shapes the profile says the model accepts are sent (no sampling
parameters, no prefill, forced tool choice only where allowed).
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anthropic
import httpx2

from blockpass.errors import (
    Overloaded,
    ProviderError,
    ProviderRejected,
    RateLimited,
    SpendLimitReached,
    TransientProviderError,
    UserInputError,
)
from blockpass.packformat import RESULT_TOOL_NAME
from blockpass.providers.base import (
    AssistantTurn,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    OutputMechanism,
    RateLimitBucket,
    RateLimitState,
    RequestPart,
    StopReason,
    ToolCall,
    Turn,
)
from blockpass.providers.tooldefs import result_tool, to_anthropic
from blockpass.providers.transport import CLIENT_TIMEOUT, connection_failure
from blockpass.usage import Usage

if TYPE_CHECKING:
    from blockpass.providers.batches import BatchApi

_BUCKETS = {
    "requests": RateLimitBucket.REQUESTS,
    "tokens": RateLimitBucket.TOKENS,
    "input-tokens": RateLimitBucket.INPUT_TOKENS,
    "output-tokens": RateLimitBucket.OUTPUT_TOKENS,
}
# "stop_sequence" ends a complete answer too; anything newer reads as a plain end.
_STOP_REASONS = {
    "end_turn": StopReason.END,
    "stop_sequence": StopReason.END,
    "tool_use": StopReason.TOOL_CALL,
    "pause_turn": StopReason.PAUSE,
    "max_tokens": StopReason.OUTPUT_LIMIT,
    "model_context_window_exceeded": StopReason.CONTEXT_LIMIT,
    "refusal": StopReason.REFUSAL,
}


class AnthropicProvider:
    def __init__(
        self,
        *,
        profile: ModelProfile,
        api_key: str,
        base_url: str | None = None,
        name: str = "anthropic",
    ) -> None:
        self._profile = profile
        self._name = name
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=CLIENT_TIMEOUT
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def profile(self) -> ModelProfile:
        return self._profile

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The SDK client, shared with the batch adapter (``anthropic_batches.py``)."""
        return self._client

    @property
    def batches(self) -> BatchApi:
        # Imported here: the batch adapter builds on this module's translations.
        from blockpass.providers.anthropic_batches import AnthropicBatches

        return AnthropicBatches(self)

    async def aclose(self) -> None:
        await self._client.close()

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The exact body sent. The cached prefix is everything up to the last block that
        carries a ``cache_control`` (a breakpoint); tools come first, then the system blocks
        (one per instruction part), then the messages (the pack, then the tool turns)."""
        body: dict[str, Any] = {"model": request.model, "max_tokens": request.max_tokens}
        tools = [to_anthropic(tool) for tool in request.tools]
        if self._profile.output is OutputMechanism.JSON_SCHEMA:
            body["output_config"] = {"format": {"type": "json_schema", "schema": request.schema}}
            if tools:
                body["tools"] = tools
        else:
            body["tools"] = [to_anthropic(result_tool(request.schema)), *tools]
            # Forced, the model must call a tool: the result tool alone, or any tool when it
            # has others to call first.
            forced = self._profile.output is OutputMechanism.STRICT_TOOL_FORCED
            body["tool_choice"] = (
                {"type": "auto"}
                if not forced
                else {"type": "any"}
                if tools
                else {"type": "tool", "name": RESULT_TOOL_NAME}
            )
        body["system"] = [_text_block(part) for part in request.instructions]
        pack = request.parts[-1]
        body["messages"] = [
            {"role": "user", "content": [_text_block(pack)] if pack.cache_ttl else pack.text},
            *(_message(turn) for turn in request.turns),
        ]
        return body

    async def complete(self, request: ModelRequest) -> ModelResponse:
        try:
            raw = await self._client.messages.with_raw_response.create(**self.request_body(request))
        except anthropic.APIStatusError as error:
            raise translate_error(error) from None
        except (anthropic.APIConnectionError, httpx2.TransportError) as error:
            raise connection_failure(self._name, self._client.base_url, error) from None
        return message_response(await raw.parse(), rate_limits=_rate_limits(raw.headers))


def message_response(
    message: anthropic.types.Message, *, rate_limits: RateLimitState | None = None
) -> ModelResponse:
    """A Messages API answer, from a realtime call or a batch result alike."""
    usage = message.usage
    creation = usage.cache_creation
    return ModelResponse(
        text=_answer_text(message),
        tool_calls=tuple(
            ToolCall(id=block.id, name=block.name, arguments=_object(block.input))
            for block in message.content
            if block.type == "tool_use" and block.name != RESULT_TOOL_NAME
        ),
        stop_reason=_STOP_REASONS.get(message.stop_reason or "end_turn", StopReason.END),
        usage=Usage(
            uncached_input=usage.input_tokens,
            cache_write_5m=creation.ephemeral_5m_input_tokens
            if creation
            else usage.cache_creation_input_tokens or 0,
            cache_write_1h=creation.ephemeral_1h_input_tokens if creation else 0,
            cache_read=usage.cache_read_input_tokens or 0,
            output=usage.output_tokens,
        ),
        rate_limits=rate_limits,
    )


def _text_block(part: RequestPart) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": part.text}
    if part.cache_ttl is not None:
        block["cache_control"] = {"type": "ephemeral", "ttl": part.cache_ttl.value}
    return block


def _message(turn: Turn) -> dict[str, Any]:
    """A tool turn as a message: the assistant's text and tool_use blocks, or the user's
    tool_result blocks (one per call, in the calls' order)."""
    if isinstance(turn, AssistantTurn):
        text = [{"type": "text", "text": turn.text}] if turn.text else []
        calls = [
            {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
            for call in turn.tool_calls
        ]
        return {"role": "assistant", "content": text + calls}
    results: list[dict[str, Any]] = [
        {
            "type": "tool_result",
            "tool_use_id": result.call_id,
            "content": result.output,
            "is_error": result.is_error,
        }
        for result in turn.results
    ]
    if turn.cache_ttl is not None:
        results[-1]["cache_control"] = {"type": "ephemeral", "ttl": turn.cache_ttl.value}
    return {"role": "user", "content": results}


def _answer_text(message: anthropic.types.Message) -> str:
    """The result: the result tool's input, else the text (beside other tools' calls, the
    text is the model thinking aloud, kept for the assistant turn)."""
    for block in message.content:
        if block.type == "tool_use" and block.name == RESULT_TOOL_NAME:
            return json.dumps(block.input, ensure_ascii=False)
    return "".join(block.text for block in message.content if block.type == "text")


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _rate_limits(headers: httpx2.Headers) -> RateLimitState | None:
    remaining: dict[RateLimitBucket, int] = {}
    reset_at: dict[RateLimitBucket, float] = {}
    limits: dict[RateLimitBucket, int] = {}
    for header, bucket in _BUCKETS.items():
        left = headers.get(f"anthropic-ratelimit-{header}-remaining")
        reset = headers.get(f"anthropic-ratelimit-{header}-reset")
        limit = headers.get(f"anthropic-ratelimit-{header}-limit")
        if left is not None and left.isdigit():
            remaining[bucket] = int(left)
        if limit is not None and limit.isdigit():
            limits[bucket] = int(limit)
        if reset:
            with contextlib.suppress(ValueError):
                reset_at[bucket] = datetime.fromisoformat(reset.replace("Z", "+00:00")).timestamp()
    if not remaining:
        return None
    return RateLimitState(remaining=remaining, reset_at=reset_at, limits=limits)


def translate_error(error: anthropic.APIStatusError) -> ProviderError:
    status = error.status_code
    body = error.body if isinstance(error.body, dict) else {}
    details = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
    message = str(details.get("message") or error.message)
    if status == 429:
        retry_after = error.response.headers.get("retry-after")
        spend_cap = (details.get("details") or {}).get(
            "error_code"
        ) == "enforced_spend_limit_reached"
        if retry_after is None and spend_cap:
            return SpendLimitReached(f"spend limit reached: {message}")
        return RateLimited(f"rate limited: {message}", retry_after=_seconds(retry_after))
    if status in (529, 503):
        return Overloaded(f"provider overloaded ({status}): {message}")
    if status in (408, 409) or status >= 500:
        return TransientProviderError(f"provider error {status}: {message}")
    if status == 401:
        return UserInputError("authentication failed: check the API key (ANTHROPIC_API_KEY)")  # type: ignore[return-value]
    if status == 404:
        return UserInputError(f"not found: {message}")  # type: ignore[return-value]
    return ProviderRejected(f"request rejected ({status}): {message}")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
