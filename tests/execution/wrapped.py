"""A provider that stands in front of another and changes only what a test needs."""

from __future__ import annotations

from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import ModelProfile, ModelRequest, ModelResponse
from blockpass.providers.batches import BatchApi


class WrappedProvider:
    """Passes everything to ``inner``; subclasses override ``complete``."""

    def __init__(self, inner: AnthropicProvider) -> None:
        self._inner = inner

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def profile(self) -> ModelProfile:
        return self._inner.profile

    @property
    def batches(self) -> BatchApi:
        return self._inner.batches

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await self._inner.complete(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
