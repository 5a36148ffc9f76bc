"""`providers.connect`: a connection string to a ready provider, each vendor over real HTTP
to the sandbox through the official SDKs (the local model is built, never loaded)."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.errors import UserInputError
from blockpass.providers import (
    RehearsalSettings,
    connect,
    model_profile,
    open_connection,
    parse_connection,
)
from blockpass.providers.base import ModelRequest
from blockpass.sandbox import DEFAULT_API_KEY, SandboxConfig
from tests.providers.openai_support import request_for
from tests.sandbox.support import StartSandbox

pytestmark = pytest.mark.anyio
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SYSTEM = "You check documents against a style guide. " * 40


def request(model: str) -> ModelRequest:
    return request_for(model, SYSTEM, "Please utilize the installer.")


def test_a_connection_names_the_vendor_and_carries_the_models_profile() -> None:
    connection = parse_connection("openai:gpt-5-mini")
    assert connection.vendor == "openai"
    assert connection.profile == model_profile("gpt-5-mini")
    assert connection.needs_api_key
    assert not connection.priced_by_user


def test_a_connection_without_a_model_gets_the_vendors_default() -> None:
    assert parse_connection("local:").profile.id == "smollm2-135m-instruct"
    assert parse_connection("sandbox:").profile.id == "claude-sonnet-4-6"
    assert not parse_connection("sandbox:").needs_api_key


def test_a_stated_profile_describes_a_model_on_a_compatible_server_priced_by_the_user() -> None:
    connection = parse_connection("openai:qwen3-8b", context_window=32_768, max_output=4096)
    assert connection.profile.id == "qwen3-8b"
    assert connection.profile.context_window == 32_768
    assert connection.priced_by_user


@pytest.mark.parametrize(
    "text", ["gpt-5-mini", "azure:gpt-5-mini", "", ":gpt-5-mini", "openai:no-such-model"]
)
def test_a_bad_connection_string_is_one_clear_line_of_bad_input(text: str) -> None:
    with pytest.raises(UserInputError) as raised:
        parse_connection(text)
    message = str(raised.value)
    assert message
    assert "\n" not in message


def test_a_profile_needs_both_its_context_window_and_its_maximum_output() -> None:
    with pytest.raises(UserInputError, match="state both"):
        parse_connection("openai:qwen3-8b", context_window=32_768)


def test_a_model_of_another_vendor_is_refused() -> None:
    with pytest.raises(UserInputError, match="gpt-5-mini is not a model of anthropic"):
        connect(parse_connection("anthropic:gpt-5-mini"), api_key="key")


def test_a_vendors_own_api_needs_a_key() -> None:
    with pytest.raises(UserInputError, match="needs an API key"):
        connect(parse_connection("anthropic:claude-sonnet-4-6"))


async def test_an_anthropic_connection_calls_the_messages_api_at_its_address(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox()
    provider = connect(
        parse_connection("anthropic:claude-sonnet-4-6"),
        base_url=running.server.base_url,
        api_key=DEFAULT_API_KEY,
    )
    try:
        response = await provider.complete(request("claude-sonnet-4-6"))
    finally:
        await provider.aclose()
    assert provider.name == "anthropic"
    assert provider.profile == model_profile("claude-sonnet-4-6")
    assert provider.batches is not None
    assert response.usage.output > 0
    assert running.sandbox.stats.requests["POST /v1/messages"] == 1


async def test_an_openai_connection_calls_its_api_at_a_base_url_with_the_version(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox()
    provider = connect(
        parse_connection("openai:gpt-5-mini"),
        base_url=f"{running.server.base_url}/v1",
        api_key=DEFAULT_API_KEY,
    )
    try:
        response = await provider.complete(request("gpt-5-mini"))
    finally:
        await provider.aclose()
    assert provider.name == "openai"
    assert provider.batches is not None
    assert response.usage.output > 0
    assert running.sandbox.stats.requests["POST /v1/chat/completions"] == 1


async def test_a_compatible_server_that_ignores_keys_is_reached_without_one(
    start_sandbox: StartSandbox,
) -> None:
    running = start_sandbox(SandboxConfig(api_key="unused"))
    connection = parse_connection("openai:gpt-4.1-mini", context_window=32_768, max_output=4096)
    provider = connect(connection, base_url=f"{running.server.base_url}/v1")
    try:
        response = await provider.complete(request("gpt-4.1-mini"))
    finally:
        await provider.aclose()
    assert response.usage.output > 0


@pytest.mark.parametrize(
    ("model", "endpoint"),
    [("claude-sonnet-4-6", "POST /v1/messages"), ("gpt-5-mini", "POST /v1/chat/completions")],
)
async def test_a_sandbox_connection_speaks_the_api_of_the_models_vendor_at_the_sandboxs_address(
    start_sandbox: StartSandbox, model: str, endpoint: str
) -> None:
    running = start_sandbox()
    provider = connect(f"sandbox:{model}", base_url=running.server.base_url)
    try:
        response = await provider.complete(request(model))
    finally:
        await provider.aclose()
    assert provider.name == "sandbox"
    assert response.usage.output > 0
    assert running.sandbox.stats.requests[endpoint] == 1


def test_a_sandbox_connection_needs_an_address_unless_one_is_served_for_it() -> None:
    with pytest.raises(UserInputError, match="sandbox's address"):
        connect(parse_connection("sandbox:"))


async def test_an_opened_sandbox_connection_without_an_address_serves_a_sandbox_for_its_length() -> (
    None
):
    rules = EXAMPLES / "rules" / "Example"
    async with open_connection(
        "sandbox:gpt-5-mini", rehearsal=RehearsalSettings(rules=rules)
    ) as provider:
        response = await provider.complete(request("gpt-5-mini"))
    assert provider.name == "sandbox"
    assert response.usage.output > 0


async def test_a_rehearsal_with_an_unknown_fault_is_one_line_of_bad_input() -> None:
    with pytest.raises(UserInputError, match="--sandbox-faults: unknown fault 'meteor'"):
        async with open_connection(
            parse_connection("sandbox:"), rehearsal=RehearsalSettings(faults="meteor=1")
        ):
            pass


def test_a_local_connection_builds_the_model_in_process_without_loading_it() -> None:
    provider = connect(parse_connection("local:"), threads=2)
    assert provider.name == "local"
    assert provider.profile == model_profile("smollm2-135m-instruct")
    assert provider.batches is None
