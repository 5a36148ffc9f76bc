"""Connections: ``"vendor:model"`` to a ready provider with its profile.

This is the one place that knows how each vendor is reached, so that the CLI, a worker
process or a service composes a job from a connection string, an address and a key it read
itself (library code never reads the environment):

    anthropic:MODEL   Anthropic's API, or the server at ``base_url``
    openai:MODEL      OpenAI's API, or any OpenAI-compatible server at ``base_url``
    local:MODEL       a llama.cpp model in this process (``model_path``, ``threads``)
    sandbox:MODEL     the sandbox at ``base_url``, speaking the API of the model's vendor;
                      ``open_connection`` serves one in this process when no address is given

An empty model (``"openai:"``) is the vendor's default model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from blockpass.errors import UserInputError
from blockpass.providers.base import COMPATIBLE_PROVIDER, ModelProfile, Provider, model_profile

__all__ = [
    "DEFAULT_MODELS",
    "VENDORS",
    "Connection",
    "RehearsalSettings",
    "connect",
    "open_adapter",
    "open_connection",
    "open_connections",
    "parse_connection",
    "speaks",
]

DEFAULT_MODELS = {
    "local": "smollm2-135m-instruct",
    "sandbox": "claude-sonnet-4-6",
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-5-mini",
}
VENDORS = tuple(DEFAULT_MODELS)
# The API each profile's provider speaks. OpenAI-compatible servers speak OpenAI's. The
# adapters (and the vendor SDKs, seconds of start-up) are imported only when one is opened.
_WIRE = {"anthropic": "anthropic", "openai": "openai", COMPATIBLE_PROVIDER: "openai"}
# Vendors whose real API needs a key; the local model and the sandbox do not.
_KEYED = frozenset({"anthropic", "openai"})
# Vendors without a batch API: the local model answers one call at a time.
_WITHOUT_BATCHES = frozenset({"local"})
# Self-hosted compatible servers (vLLM, llama.cpp, Ollama) usually ignore the key, but the
# SDK will not start without one.
_PLACEHOLDER_KEY = "unused"


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """A parsed connection string: where calls go, and the profile of the model there."""

    vendor: str
    profile: ModelProfile

    @property
    def needs_api_key(self) -> bool:
        """Whether the vendor's own API wants a key (a compatible server may not)."""
        return self.vendor in _KEYED

    @property
    def has_batch_api(self) -> bool:
        """Whether jobs can go to the vendor's Batch API (``Provider.batches`` once connected)."""
        return self.vendor not in _WITHOUT_BATCHES

    @property
    def rehearsal(self) -> bool:
        """Whether calls go to the sandbox: its answers rehearse a job, they are no model's."""
        return self.vendor == "sandbox"

    @property
    def priced_by_user(self) -> bool:
        """A model described by a profile the user stated has no list price of its own."""
        return self.profile.provider == COMPATIBLE_PROVIDER


@dataclass(frozen=True, slots=True, kw_only=True)
class RehearsalSettings:
    """The sandbox ``open_connection`` serves for a ``sandbox:`` connection without an
    address: ``rules``, a Vale style folder its responder applies; ``faults``, rates as the
    sandbox's ``--faults`` reads them (``overloaded=0.05,truncate=0.1``); times in seconds."""

    rules: Path | None = None
    faults: str = ""
    latency: float = 0.0
    batch_seconds: float = 5.0
    batch_expiry: float = 86_400.0
    # The sandbox's assumed quality model (``sandbox/quality.py``): cheaper models miss findings.
    quality_model: bool = False


def parse_connection(
    text: str, *, context_window: int | None = None, max_output: int | None = None
) -> Connection:
    """``"vendor:model"``, with the model's profile: the shipped one, or, given both
    ``context_window`` and ``max_output``, one stated for a model on a compatible server."""
    vendor, colon, model = text.partition(":")
    if not colon or vendor not in VENDORS:
        raise UserInputError(
            f"not a connection: {text!r}; write vendor:model, the vendor one of "
            f"{', '.join(VENDORS)} (e.g. openai:gpt-5-mini)"
        )
    model = model or DEFAULT_MODELS[vendor]
    stated = (context_window, max_output)
    if stated == (None, None):
        return Connection(vendor=vendor, profile=model_profile(model))
    if context_window is None or max_output is None:
        raise UserInputError("state both the context window and the maximum output, or neither")
    from blockpass.providers.openai import compatible_profile

    profile = compatible_profile(model, context_window=context_window, max_output=max_output)
    return Connection(vendor=vendor, profile=profile)


def speaks(profile: ModelProfile) -> str:
    """The vendor API a model is reached through: "anthropic", "openai" or "local"."""
    return _WIRE.get(profile.provider, profile.provider)


def open_adapter(
    profile: ModelProfile, *, api_key: str, base_url: str | None, name: str
) -> Provider:
    """The wire adapter a profile names, at ``base_url`` (None: the vendor's own API)."""
    adapter: Callable[..., Provider]
    if speaks(profile) == "anthropic":
        from blockpass.providers.anthropic import AnthropicProvider as adapter
    else:
        from blockpass.providers.openai import OpenAIProvider as adapter
    return adapter(profile=profile, api_key=api_key, base_url=base_url, name=name)


def connect(
    connection: Connection | str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model_path: Path | None = None,
    threads: int | None = None,
) -> Provider:
    """A ready provider for ``connection`` (a string as ``parse_connection`` reads it, with
    the model's shipped profile); close it with ``aclose``.

    ``base_url`` is the vendor API's address as its SDK takes it (OpenAI's ends in ``/v1``),
    but for the sandbox, whose own address is given and which serves both vendors' APIs.
    """
    if isinstance(connection, str):
        connection = parse_connection(connection)
    profile, vendor = connection.profile, connection.vendor
    if vendor != "sandbox" and vendor != speaks(profile):
        raise UserInputError(f"{profile.id} is not a model of {vendor}")
    if vendor == "local":
        from blockpass.providers.local import LocalProvider

        return LocalProvider(profile=profile, model_path=model_path, n_threads=threads)
    if vendor == "sandbox":
        if base_url is None:
            raise UserInputError("a sandbox connection needs the sandbox's address")
        from blockpass.sandbox.app import DEFAULT_API_KEY

        # The OpenAI SDK's base URL includes the API version; Anthropic's does not.
        suffix = "/v1" if speaks(profile) == "openai" else ""
        return open_adapter(
            profile, api_key=api_key or DEFAULT_API_KEY, base_url=base_url + suffix, name=vendor
        )
    if not api_key:
        if base_url is None:
            raise UserInputError(f"{vendor} needs an API key")
        api_key = _PLACEHOLDER_KEY
    return open_adapter(profile, api_key=api_key, base_url=base_url, name=vendor)


@asynccontextmanager
async def open_connection(
    connection: Connection | str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model_path: Path | None = None,
    threads: int | None = None,
    rehearsal: RehearsalSettings | None = None,
) -> AsyncIterator[Provider]:
    """``connect``, closing the provider at the end; a ``sandbox:`` connection without an
    address gets a sandbox served in this process (``rehearsal``) for as long."""
    if isinstance(connection, str):
        connection = parse_connection(connection)
    async with AsyncExitStack() as stack:
        if connection.vendor == "sandbox" and base_url is None:
            from blockpass.sandbox.server import serve_rehearsal

            base_url = stack.enter_context(serve_rehearsal(rehearsal or RehearsalSettings()))
        provider = connect(
            connection, base_url=base_url, api_key=api_key, model_path=model_path, threads=threads
        )
        stack.push_async_callback(provider.aclose)
        yield provider


@asynccontextmanager
async def open_connections(
    connections: Sequence[Connection],
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    model_path: Path | None = None,
    threads: int | None = None,
    rehearsal: RehearsalSettings | None = None,
) -> AsyncIterator[list[Provider]]:
    """``open_connection`` for each of several models (a routed run's tiers), in order; the
    ``sandbox:`` ones share one sandbox, served here when no address is given, which answers
    every model. ``base_url`` and ``api_key`` go to the connections of the others."""
    async with AsyncExitStack() as stack:
        sandbox_url = base_url
        if sandbox_url is None and any(each.vendor == "sandbox" for each in connections):
            from blockpass.sandbox.server import serve_rehearsal

            sandbox_url = stack.enter_context(serve_rehearsal(rehearsal or RehearsalSettings()))
        providers = []
        for each in connections:
            opened = open_connection(
                each,
                base_url=sandbox_url if each.vendor == "sandbox" else base_url,
                api_key=api_key,
                model_path=model_path,
                threads=threads,
            )
            providers.append(await stack.enter_async_context(opened))
        yield providers
