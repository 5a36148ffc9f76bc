"""Helpers shared by the sandbox tests."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from anthropic import Anthropic, AsyncAnthropic

from blockpass.packformat import PackedBlock, render_pack
from blockpass.sandbox import DEFAULT_API_KEY, FaultPlan, ManualClock, RunningServer, Sandbox
from blockpass.sandbox.faults import parse_script


def pack(*texts: str) -> str:
    return render_pack(
        PackedBlock(id=f"b{number}", kind="paragraph", text=text)
        for number, text in enumerate(texts, start=1)
    )


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def scripted(script: str) -> FaultPlan:
    """Faults taken in order, one entry per request (``faults.parse_script``)."""
    return FaultPlan(script=deque(parse_script(script)))


def cached_system(text: str, ttl: str = "5m") -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}]


@dataclass
class RunningSandbox:
    sandbox: Sandbox
    server: RunningServer
    clock: ManualClock
    clients: list[AsyncAnthropic | Anthropic] = field(default_factory=list)

    def client(self, api_key: str = DEFAULT_API_KEY, **options: Any) -> AsyncAnthropic:
        options.setdefault("max_retries", 0)
        client = AsyncAnthropic(api_key=api_key, base_url=self.server.base_url, **options)
        self.clients.append(client)
        return client

    def sync_client(self, **options: Any) -> Anthropic:
        options.setdefault("max_retries", 0)
        client = Anthropic(api_key=DEFAULT_API_KEY, base_url=self.server.base_url, **options)
        self.clients.append(client)
        return client


StartSandbox = Callable[..., RunningSandbox]
