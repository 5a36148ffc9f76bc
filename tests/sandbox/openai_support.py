"""Helpers shared by the tests that drive the sandbox through the official ``openai`` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from openai import AsyncOpenAI
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import PromptTokensDetails

from blockpass.packformat import RESULT_SCHEMA, RESULT_TOOL_NAME
from blockpass.sandbox import DEFAULT_API_KEY
from tests.sandbox.support import RunningSandbox

Connect = Callable[..., AsyncOpenAI]
RESULT_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": RESULT_TOOL_NAME, "schema": RESULT_SCHEMA, "strict": True},
}


@asynccontextmanager
async def openai_clients() -> AsyncIterator[Connect]:
    """Opens SDK clients on running sandboxes (retries off unless asked); closes them after."""
    clients: list[AsyncOpenAI] = []

    def connect(
        running: RunningSandbox, api_key: str = DEFAULT_API_KEY, **options: Any
    ) -> AsyncOpenAI:
        options.setdefault("max_retries", 0)
        client = AsyncOpenAI(api_key=api_key, base_url=f"{running.server.base_url}/v1", **options)
        clients.append(client)
        return client

    try:
        yield connect
    finally:
        for client in clients:
            await client.close()


def chat(system: str, user: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def usage_of(completion: ChatCompletion | ChatCompletionChunk) -> CompletionUsage:
    assert completion.usage is not None
    return completion.usage


def prompt_details(completion: ChatCompletion | ChatCompletionChunk) -> PromptTokensDetails:
    details = usage_of(completion).prompt_tokens_details
    assert details is not None
    return details


def cached(completion: ChatCompletion | ChatCompletionChunk) -> int:
    return prompt_details(completion).cached_tokens or 0
