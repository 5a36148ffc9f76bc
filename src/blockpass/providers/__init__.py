"""Model providers: profiles as data, one wire adapter per vendor API.

``open_adapter`` picks the adapter a model's profile names; where the calls go (the real API,
the sandbox, a compatible server) is only a base URL and a key, decided at the edge.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.anthropic_batches import AnthropicBatches
from blockpass.providers.base import ModelProfile, Provider, model_profile
from blockpass.providers.batches import BatchApi
from blockpass.providers.openai import OpenAIProvider
from blockpass.providers.openai_batches import OpenAIBatches

# The API each profile's provider speaks. OpenAI-compatible servers speak OpenAI's.
_ADAPTERS: dict[str, Callable[..., Provider]] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "openai-compatible": OpenAIProvider,
}

# The Batch API of each adapter that has one, keyed by the adapter's class.
_BATCH_ADAPTERS: dict[type, Callable[[Any], BatchApi]] = {
    AnthropicProvider: AnthropicBatches,
    OpenAIProvider: OpenAIBatches,
}

__all__ = [
    "BatchApi",
    "ModelProfile",
    "Provider",
    "batch_api",
    "model_profile",
    "open_adapter",
    "speaks",
]


def speaks(profile: ModelProfile) -> str:
    """The vendor API a model is reached through: "anthropic" or "openai"."""
    return "openai" if _ADAPTERS.get(profile.provider) is OpenAIProvider else profile.provider


def open_adapter(
    profile: ModelProfile, *, api_key: str, base_url: str | None, name: str
) -> Provider:
    adapter = _ADAPTERS[profile.provider]
    return adapter(profile=profile, api_key=api_key, base_url=base_url, name=name)


def batch_api(provider: Provider) -> BatchApi | None:
    """The provider's Batch API, or None when it has none (a local model)."""
    adapter = _BATCH_ADAPTERS.get(type(provider))
    return None if adapter is None else adapter(provider)
