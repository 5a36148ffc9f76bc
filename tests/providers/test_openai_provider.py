"""The OpenAI adapter against the sandbox over real HTTP: the request it sends, the usage and
cost it reports, and the errors it raises."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from openai.types.chat import ChatCompletion

from blockpass.errors import (
    Overloaded,
    ProviderRejected,
    RateLimited,
    TransientProviderError,
    UserInputError,
)
from blockpass.ledger import cost
from blockpass.packformat import RESULT_SCHEMA, RESULT_TOOL_NAME
from blockpass.prices import load_prices
from blockpass.providers.base import (
    OutputMechanism,
    RateLimitBucket,
    RateLimitState,
    StopReason,
    model_profile,
)
from blockpass.providers.openai import OpenAIProvider, compatible_profile
from blockpass.providers.openai import _usage as map_usage
from blockpass.providers.tooldefs import result_tool, to_chat_completions
from blockpass.sandbox import SandboxConfig
from blockpass.usage import Usage
from tests.providers.openai_support import MakeProvider, openai_providers, request_for
from tests.providers.requests import prefix_and_pack
from tests.sandbox.support import StartSandbox, scripted

pytestmark = pytest.mark.anyio


@pytest.fixture
async def provider_for() -> AsyncIterator[MakeProvider]:
    async with openai_providers() as make:
        yield make


async def test_cached_tokens_become_cache_reads_and_the_rest_uncached_input(
    start_sandbox: StartSandbox, provider_for: MakeProvider, guide: str, google_rules: Path
) -> None:
    provider = provider_for(start_sandbox(SandboxConfig(rules=google_rules)), "gpt-4.1-mini")
    first = await provider.complete(request_for("gpt-4.1-mini", guide, "Click OK to abort."))
    second = await provider.complete(request_for("gpt-4.1-mini", guide, "Click OK to abort."))
    assert first.usage.cache_read == 0
    assert first.usage.cache_write == 0
    assert second.usage.cache_read > 2000
    assert (second.usage.cache_read - 1024) % 128 == 0
    assert second.usage.cache_write == 0  # no write is reported before GPT-5.6
    assert second.usage.input_total == first.usage.input_total == first.usage.uncached_input
    assert second.usage.output == first.usage.output > 0
    assert second.stop_reason == StopReason.END
    assert json.loads(second.text)["results"][0]["verdict"] == "edit"


async def test_gpt_5_6_writes_the_prefix_once_at_an_explicit_breakpoint_and_reads_it_after(
    start_sandbox: StartSandbox, provider_for: MakeProvider, guide: str
) -> None:
    provider = provider_for(start_sandbox(), "gpt-5.6-luna")
    first = await provider.complete(request_for("gpt-5.6-luna", guide, "One."))
    second = await provider.complete(request_for("gpt-5.6-luna", guide, "Two, a longer one."))
    assert first.usage.cache_read == 0
    assert first.usage.cache_write_5m > 2000
    assert first.usage.cache_write_1h == 0
    assert second.usage.cache_read == first.usage.cache_write_5m
    assert second.usage.cache_write == 0
    # Only the pack is uncached: the prefix was written once and then read.
    assert second.usage.uncached_input > first.usage.uncached_input > 0


async def test_without_a_breakpoint_gpt_5_6_caches_nothing(
    start_sandbox: StartSandbox, provider_for: MakeProvider, guide: str
) -> None:
    provider = provider_for(start_sandbox(), "gpt-6-luna")
    for text in ("One.", "Two."):
        response = await provider.complete(request_for("gpt-6-luna", guide, text, ttl=None))
        assert response.usage.cache_write == response.usage.cache_read == 0


def test_the_prefix_is_byte_identical_and_first_in_every_body() -> None:
    provider = OpenAIProvider(
        profile=model_profile("gpt-6-luna"), api_key="unused", base_url="http://127.0.0.1:9/v1"
    )
    assert provider.endpoint == "/v1/chat/completions"
    bodies = [
        provider.request_body(request_for("gpt-6-luna", "The guide.", *texts))
        for texts in (("a",), ("b", "c"))
    ]
    prefixes = [json.dumps([body["response_format"], body["messages"][0]]) for body in bodies]
    assert prefixes[0] == prefixes[1]
    body = bodies[0]
    assert list(body) == [
        "model",
        "max_completion_tokens",
        "response_format",
        "messages",
        "prompt_cache_key",
        "prompt_cache_options",
    ]
    assert body["messages"][0] == {
        "role": "system",
        "content": [
            {"type": "text", "text": "The guide.", "prompt_cache_breakpoint": {"mode": "explicit"}}
        ],
    }
    assert body["messages"][1]["role"] == "user"
    assert body["prompt_cache_key"] == "task-fingerprint"
    assert body["prompt_cache_options"] == {"mode": "explicit", "ttl": "30m"}
    older = OpenAIProvider(
        profile=model_profile("gpt-5-mini"), api_key="unused", base_url="http://127.0.0.1:9/v1"
    )
    older_body = older.request_body(request_for("gpt-5-mini", "The guide.", "a"))
    assert older_body["messages"][0] == {"role": "system", "content": "The guide."}
    assert "prompt_cache_options" not in older_body


async def test_a_strict_tool_profile_sends_the_shared_tool_definition(
    start_sandbox: StartSandbox, provider_for: MakeProvider
) -> None:
    profile = replace(model_profile("gpt-4.1-mini"), output=OutputMechanism.STRICT_TOOL_FORCED)
    provider = provider_for(start_sandbox(), profile)
    request = request_for("gpt-4.1-mini", "The guide.", "One.", "Two.")
    body = provider.request_body(request)
    assert body["tools"] == [to_chat_completions(result_tool(RESULT_SCHEMA))]
    assert body["tool_choice"] == {"type": "function", "function": {"name": RESULT_TOOL_NAME}}
    response = await provider.complete(request)
    assert [result["id"] for result in json.loads(response.text)["results"]] == ["b1", "b2"]
    assert response.stop_reason == StopReason.END


def test_cached_input_costs_a_quarter_on_gpt_4_1_mini_by_hand() -> None:
    # 3,000 prompt tokens of which 2,048 cached, 200 output:
    # 952 × $0.40 + 2,048 × $0.10 + 200 × $1.60 per million = $0.0003808 + $0.0002048 + $0.00032
    prices = load_prices().for_model("gpt-4.1-mini")
    usage_cost = cost(_usage(prompt=3000, cached=2048, written=0, output=200), prices, batch=False)
    assert usage_cost.total == Decimal("0.0009056")
    assert cost(
        _usage(prompt=3000, cached=2048, written=0, output=200), prices, batch=True
    ).total == Decimal("0.0004528")


def test_a_gpt_5_6_write_costs_1_25x_input_and_a_read_0_1x_by_hand() -> None:
    # 2,700 written + 100 uncached + 150 output: 2,700 × $0.25 + 100 × $0.20 + 150 × $1.20
    prices = load_prices().for_model("gpt-5.6-luna")
    assert cost(
        _usage(prompt=2800, cached=0, written=2700, output=150), prices, batch=False
    ).total == Decimal("0.000875")
    # Then 2,700 read + 120 uncached + 150 output: 2,700 × $0.02 + 120 × $0.20 + 150 × $1.20
    assert cost(
        _usage(prompt=2820, cached=2700, written=0, output=150), prices, batch=False
    ).total == Decimal("0.000258")


def _usage(*, prompt: int, cached: int, written: int, output: int) -> Usage:
    """The provider's own mapping, applied to a usage block as the API returns it."""
    completion = ChatCompletion.model_validate(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "m",
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": output,
                "total_tokens": prompt + output,
                "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
            },
        }
    )
    return map_usage(completion)


async def test_the_cost_of_a_sandbox_call_matches_its_usage_by_hand(
    start_sandbox: StartSandbox, provider_for: MakeProvider, guide: str
) -> None:
    provider = provider_for(start_sandbox(), "gpt-4.1-mini")
    await provider.complete(request_for("gpt-4.1-mini", guide, "One."))
    usage = (await provider.complete(request_for("gpt-4.1-mini", guide, "Two."))).usage
    by_hand = (
        Decimal(usage.uncached_input) * Decimal("0.40")
        + Decimal(usage.cache_read) * Decimal("0.10")
        + Decimal(usage.output) * Decimal("1.60")
    ) / 1_000_000
    assert cost(usage, load_prices().for_model("gpt-4.1-mini"), batch=False).total == by_hand


@pytest.mark.parametrize(
    ("script", "error"),
    [
        ("rate_limited", RateLimited),
        ("overloaded", Overloaded),
        ("server_error", TransientProviderError),
        ("drop_connection", TransientProviderError),
    ],
)
async def test_provider_failures_map_onto_the_error_tree(
    start_sandbox: StartSandbox, provider_for: MakeProvider, script: str, error: type[Exception]
) -> None:
    provider = provider_for(start_sandbox(faults=scripted(script)), "gpt-4.1-mini")
    with pytest.raises(error) as caught:
        await provider.complete(request_for("gpt-4.1-mini", "Guide.", "One."))
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 1.0


async def test_request_errors_are_the_users_or_rejections(
    start_sandbox: StartSandbox, provider_for: MakeProvider
) -> None:
    running = start_sandbox()
    with pytest.raises(UserInputError, match="OPENAI_API_KEY"):
        await provider_for(running, "gpt-4.1-mini", api_key="wrong").complete(
            request_for("gpt-4.1-mini", "G.", "One.")
        )
    with pytest.raises(UserInputError, match="does not exist"):
        await provider_for(running, "gpt-4.1-mini").complete(
            request_for("gpt-imaginary", "G.", "One.")
        )
    too_long = prefix_and_pack(
        model="gpt-4.1-mini",
        system="G.",
        cache_ttl=None,
        user="x",
        max_tokens=10**6,
        schema=RESULT_SCHEMA,
    )
    with pytest.raises(ProviderRejected, match="max_completion_tokens"):
        await provider_for(running, "gpt-4.1-mini").complete(too_long)


async def test_rate_limit_headers_become_the_executors_state(
    start_sandbox: StartSandbox, provider_for: MakeProvider
) -> None:
    running = start_sandbox(SandboxConfig(requests_per_minute=10, input_tokens_per_minute=100_000))
    response = await provider_for(running, "gpt-4.1-mini").complete(
        request_for("gpt-4.1-mini", "G.", "One.")
    )
    state = response.rate_limits
    assert state is not None
    assert state.remaining[RateLimitBucket.REQUESTS] == 9
    assert 0 < state.remaining[RateLimitBucket.TOKENS] < 100_000
    assert state.limits == {RateLimitBucket.REQUESTS: 10, RateLimitBucket.TOKENS: 100_000}
    # One bucket for prompt and output: no input bucket of its own is made up.
    assert set(state.reset_at) == set(state.remaining) == set(state.limits)
    # Cached prompt tokens use up OpenAI's TPM: the executor must budget the whole prompt.
    assert state.cached_input_counts


async def test_a_compatible_server_gets_no_openai_cache_fields(
    start_sandbox: StartSandbox, provider_for: MakeProvider
) -> None:
    profile = compatible_profile("gpt-4.1-mini", context_window=32_768, max_output=4_096)
    assert (profile.provider, profile.min_cacheable) == ("openai-compatible", 0)
    provider = provider_for(start_sandbox(), profile)
    body = provider.request_body(request_for("gpt-4.1-mini", "G.", "One."))
    assert body["messages"][0]["content"] == "G."
    assert "prompt_cache_options" not in body
    assert (
        await provider.complete(request_for("gpt-4.1-mini", "G.", "One."))
    ).stop_reason == StopReason.END
    lookalike = OpenAIProvider(
        profile=compatible_profile("gpt-6-luna", context_window=100_000, max_output=1_000),
        api_key="k",
    )
    assert "prompt_cache_options" not in lookalike.request_body(
        request_for("gpt-6-luna", "G.", "One.")
    )
    await lookalike.aclose()
    with pytest.raises(UserInputError):
        compatible_profile("m", context_window=1_000, max_output=1_000)


@pytest.mark.parametrize(
    ("finish_reason", "refusal", "neutral"),
    [
        ("stop", None, StopReason.END),
        ("length", None, StopReason.OUTPUT_LIMIT),
        ("tool_calls", None, StopReason.TOOL_CALL),
        ("content_filter", None, StopReason.REFUSAL),
        ("stop", "I cannot help with that.", StopReason.REFUSAL),
    ],
)
def test_each_chat_finish_reason_has_its_neutral_name(
    finish_reason: str, refusal: str | None, neutral: StopReason
) -> None:
    provider = OpenAIProvider(profile=model_profile("gpt-4.1-mini"), api_key="unused")
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-4.1-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": finish_reason,
                "message": {"role": "assistant", "content": "{}", "refusal": refusal},
            }
        ],
    }
    assert provider.parse_response_body(body).stop_reason is neutral


async def test_a_streamed_answer_is_the_whole_answer_and_says_when_it_began(
    start_sandbox: StartSandbox, provider_for: MakeProvider, guide: str, google_rules: Path
) -> None:
    running = start_sandbox(SandboxConfig(rules=google_rules, requests_per_minute=10))
    provider = provider_for(running, "gpt-5-mini")
    began: list[RateLimitState | None] = []
    streamed = await provider.complete_streamed(
        request_for("gpt-5-mini", guide, "Click OK to abort."), on_start=began.append
    )
    whole = await provider.complete(request_for("gpt-5-mini", guide, "Click OK to abort."))
    assert len(began) == 1
    assert began[0] is not None
    assert began[0].limits == {RateLimitBucket.REQUESTS: 10}
    assert (streamed.text, streamed.stop_reason) == (whole.text, whole.stop_reason)
    assert streamed.usage.output == whole.usage.output > 0
    assert streamed.usage.input_total == whole.usage.input_total
    assert json.loads(streamed.text)["results"][0]["verdict"] == "edit"
