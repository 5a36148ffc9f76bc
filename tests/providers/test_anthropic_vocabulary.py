"""Anthropic's stop reasons and rate-limit headers, read into blockpass's own words."""

from __future__ import annotations

from pathlib import Path

import anthropic
import pytest

from blockpass.packformat import RESULT_SCHEMA
from blockpass.providers.anthropic import AnthropicProvider, message_response
from blockpass.providers.base import (
    CacheTtl,
    ModelRequest,
    RateLimitBucket,
    RateLimitState,
    StopReason,
    model_profile,
)
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from tests.providers.requests import prefix_and_pack
from tests.sandbox.support import StartSandbox, pack

MODEL = "claude-sonnet-4-5"


def message(stop_reason: str | None) -> anthropic.types.Message:
    return anthropic.types.Message.model_validate(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{"type": "text", "text": "{}"}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 1},
        }
    )


@pytest.mark.parametrize(
    ("vendor", "neutral"),
    [
        ("end_turn", StopReason.END),
        ("stop_sequence", StopReason.END),
        (None, StopReason.END),
        ("tool_use", StopReason.TOOL_CALL),
        ("pause_turn", StopReason.PAUSE),
        ("max_tokens", StopReason.OUTPUT_LIMIT),
        ("model_context_window_exceeded", StopReason.CONTEXT_LIMIT),
        ("refusal", StopReason.REFUSAL),
    ],
)
def test_each_anthropic_stop_reason_has_its_neutral_name(
    vendor: str | None, neutral: StopReason
) -> None:
    assert message_response(message(vendor)).stop_reason is neutral


@pytest.mark.anyio
async def test_anthropic_rate_limit_headers_fill_the_neutral_buckets(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(
        SandboxConfig(
            requests_per_minute=10,
            input_tokens_per_minute=100_000,
            output_tokens_per_minute=50_000,
        )
    )
    adapter = AnthropicProvider(
        profile=model_profile(MODEL), api_key=DEFAULT_API_KEY, base_url=running.server.base_url
    )
    request = prefix_and_pack(
        model=MODEL,
        system="Guide.",
        cache_ttl=None,
        user=pack("One."),
        max_tokens=100,
        schema=RESULT_SCHEMA,
    )
    try:
        state = (await adapter.complete(request)).rate_limits
    finally:
        await adapter.aclose()
    assert state is not None
    assert state.remaining[RateLimitBucket.REQUESTS] == 9
    assert 0 < state.remaining[RateLimitBucket.INPUT_TOKENS] < 100_000
    assert 0 < state.remaining[RateLimitBucket.OUTPUT_TOKENS] <= 50_000
    assert set(state.reset_at) >= {
        RateLimitBucket.REQUESTS,
        RateLimitBucket.INPUT_TOKENS,
        RateLimitBucket.OUTPUT_TOKENS,
    }
    assert state.limits[RateLimitBucket.INPUT_TOKENS] == 100_000
    assert state.limits[RateLimitBucket.REQUESTS] == 10
    assert not state.cached_input_counts


@pytest.mark.anyio
async def test_a_streamed_message_is_the_whole_message_and_says_when_it_began(
    start_sandbox: StartSandbox, guide: str, google_rules: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules, output_tokens_per_minute=50_000))
    adapter = AnthropicProvider(
        profile=model_profile(MODEL), api_key=DEFAULT_API_KEY, base_url=running.server.base_url
    )

    def request() -> ModelRequest:
        return prefix_and_pack(
            model=MODEL, system=guide, cache_ttl=CacheTtl.FIVE_MINUTES,
            user=pack("Click OK to abort."), max_tokens=1000, schema=RESULT_SCHEMA,
        )  # fmt: skip

    began: list[RateLimitState | None] = []
    try:
        streamed = await adapter.complete_streamed(request(), on_start=began.append)
        whole = await adapter.complete(request())
    finally:
        await adapter.aclose()
    assert len(began) == 1
    assert began[0] is not None
    assert began[0].limits[RateLimitBucket.OUTPUT_TOKENS] == 50_000
    assert (streamed.text, streamed.stop_reason) == (whole.text, whole.stop_reason)
    assert streamed.usage.output == whole.usage.output > 0
    # The streamed call wrote the guide's cache entry; the whole one read it.
    assert streamed.usage.cache_write == whole.usage.cache_read > 2000
