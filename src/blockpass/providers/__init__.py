"""Model providers: profiles as data, one wire adapter per vendor API.

``open_adapter`` picks the adapter a model's profile names; where the calls go (the real API,
the sandbox, a compatible server) is only a base URL and a key, decided at the edge.
"""

from __future__ import annotations

from collections.abc import Callable

from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import ModelProfile, Provider, model_profile
from blockpass.providers.batches import BatchApi
from blockpass.providers.openai import OpenAIProvider

# The API each profile's provider speaks. OpenAI-compatible servers speak OpenAI's.
_ADAPTERS: dict[str, Callable[..., Provider]] = {
    "anthropic": AnthropicProvider,
    "openai": OpenAIProvider,
    "openai-compatible": OpenAIProvider,
}

__all__ = [
    "BatchApi",
    "ModelProfile",
    "Provider",
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
