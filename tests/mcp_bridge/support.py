"""What the MCP bridge tests share: the test servers' addresses, a pack's request, and
providers of the three wire APIs pointed at a running sandbox."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from blockpass.mcp_bridge.client import ServerAddress, parse_server_address
from blockpass.packformat import RESULT_SCHEMA, PackedBlock, render_pack
from blockpass.providers.anthropic import AnthropicProvider
from blockpass.providers.base import (
    CacheTtl,
    ModelProfile,
    ModelRequest,
    PartKind,
    Provider,
    RequestPart,
    model_profile,
)
from blockpass.providers.openai import OpenAIProvider
from blockpass.sandbox import DEFAULT_API_KEY, serve_in_thread
from tests.mcp_bridge.servers import http_app

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCE = REPOSITORY / "src"
# Models of the three wire APIs whose output is a JSON schema and which take function tools.
ANTHROPIC_MODEL = "claude-sonnet-4-6"
CHAT_MODEL = "gpt-4.1-mini"
RESPONSES_MODEL = "gpt-6-sol"
WIRE_APIS = (ANTHROPIC_MODEL, CHAT_MODEL, RESPONSES_MODEL)


def stdio_server(name: str, order: str = "") -> ServerAddress:
    """A test server (``servers.py``) launched over stdio by this Python."""
    return parse_server_address(
        f"stdio:{sys.executable} -m tests.mcp_bridge.servers {name} {order}".rstrip()
    )


@contextmanager
def http_server(name: str, order: str = "") -> Iterator[ServerAddress]:
    """A test server over streamable HTTP, served by uvicorn on 127.0.0.1."""
    with serve_in_thread(http_app(name, order)) as running:
        yield parse_server_address(f"{running.base_url}/mcp")


@contextmanager
def mcp_serve(*arguments: str) -> Iterator[str]:
    """``blockpass mcp serve ARGUMENTS --http 0`` in a process of its own, as a user starts
    it: its URL while it runs."""
    command = [sys.executable, "-m", "blockpass.cli", "mcp", "serve", *arguments, "--http", "0"]
    # Blocking reads of its stderr until it listens: the caller needs nothing else meanwhile.
    server = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(SOURCE)}
    )
    assert server.stderr is not None
    try:
        for line in server.stderr:  # ends if the server exits
            if line.startswith("blockpass mcp on "):
                yield line.split()[3]
                return
        raise AssertionError("blockpass mcp serve exited before it listened")
    finally:
        server.terminate()
        server.wait(timeout=30)


def provider_for(model: str, base_url: str, profile: ModelProfile | None = None) -> Provider:
    profile = profile or model_profile(model)
    if profile.provider == "anthropic":
        return AnthropicProvider(profile=profile, api_key=DEFAULT_API_KEY, base_url=base_url)
    return OpenAIProvider(profile=profile, api_key=DEFAULT_API_KEY, base_url=f"{base_url}/v1")


def pack_request(model: str, guide: str, texts: list[str]) -> ModelRequest:
    """A pack's request as execution builds one: the guide as the cached prefix, the pack."""
    blocks = [
        PackedBlock(id=f"b{number}", kind="paragraph", text=text)
        for number, text in enumerate(texts, start=1)
    ]
    return ModelRequest(
        model=model,
        parts=(
            RequestPart(kind=PartKind.PREFIX, text=guide, cache_ttl=CacheTtl.ONE_HOUR),
            RequestPart(kind=PartKind.PACK, text=render_pack(blocks)),
        ),
        max_tokens=4_000,
        schema=RESULT_SCHEMA,
    )
