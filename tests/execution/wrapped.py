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


class RecordingProvider(WrappedProvider):
    """Keeps every request it passes on, in order."""

    def __init__(self, inner: AnthropicProvider) -> None:
        super().__init__(inner)
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        return await super().complete(request)
