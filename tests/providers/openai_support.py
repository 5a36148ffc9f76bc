"""Helpers shared by the tests of the OpenAI adapter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from blockpass.packformat import RESULT_SCHEMA
from blockpass.providers.base import CacheTtl, ModelProfile, ModelRequest, model_profile
from blockpass.providers.openai import OpenAIProvider
from blockpass.sandbox import DEFAULT_API_KEY
from tests.providers.requests import prefix_and_pack
from tests.sandbox.support import RunningSandbox, pack

MakeProvider = Callable[..., OpenAIProvider]


@asynccontextmanager
async def openai_providers() -> AsyncIterator[MakeProvider]:
    """Opens adapters on running sandboxes, by model id or profile; closes them after."""
    opened: list[OpenAIProvider] = []

    def make(
        running: RunningSandbox, model: str | ModelProfile, api_key: str = DEFAULT_API_KEY
    ) -> OpenAIProvider:
        profile = model_profile(model) if isinstance(model, str) else model
        provider = OpenAIProvider(
            profile=profile, api_key=api_key, base_url=f"{running.server.base_url}/v1"
        )
        opened.append(provider)
        return provider

    try:
        yield make
    finally:
        for provider in opened:
            await provider.aclose()


def request_for(
    model: str, system: str, *texts: str, ttl: CacheTtl | None = CacheTtl.FIVE_MINUTES
) -> ModelRequest:
    return prefix_and_pack(
        model=model,
        system=system,
        cache_ttl=ttl,
        user=pack(*texts),
        max_tokens=1000,
        schema=RESULT_SCHEMA,
        cache_key="task-fingerprint",
    )
