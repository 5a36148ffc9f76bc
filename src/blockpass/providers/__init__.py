"""Model providers: profiles as data, one wire adapter per vendor API.

``connect`` turns a connection string (``"openai:gpt-5-mini"``) into a ready provider
(``connections.py``); where the calls go (the real API, the sandbox, a compatible server) is
only a base URL and a key, decided by the caller.
"""

from __future__ import annotations

from blockpass.providers.base import ModelProfile, Provider, model_profile
from blockpass.providers.batches import BatchApi
from blockpass.providers.connections import (
    DEFAULT_MODELS,
    VENDORS,
    Connection,
    RehearsalSettings,
    connect,
    open_adapter,
    open_connection,
    open_connections,
    parse_connection,
    speaks,
)

__all__ = [
    "DEFAULT_MODELS",
    "VENDORS",
    "BatchApi",
    "Connection",
    "ModelProfile",
    "Provider",
    "RehearsalSettings",
    "connect",
    "model_profile",
    "open_adapter",
    "open_connection",
    "open_connections",
    "parse_connection",
    "speaks",
]
