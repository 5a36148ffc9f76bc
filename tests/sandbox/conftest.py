from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from anthropic import Anthropic, AsyncAnthropic

from blockpass.sandbox import (
    DEFAULT_API_KEY,
    FaultPlan,
    ManualClock,
    RunningServer,
    Sandbox,
    SandboxConfig,
    create_app,
    serve_in_thread,
)

GUIDE_PAGES = ("plain-language.md", "be-concise.md", "address-the-user.md")


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


@pytest.fixture
async def start_sandbox() -> AsyncIterator[StartSandbox]:
    """Starts sandboxes on 127.0.0.1, port 0, each on a manual clock; stops them afterwards."""
    started: list[RunningSandbox] = []
    with ExitStack() as stack:

        def start(
            config: SandboxConfig | None = None, faults: FaultPlan | None = None
        ) -> RunningSandbox:
            clock = ManualClock()
            sandbox = Sandbox(config or SandboxConfig(), clock=clock, faults=faults)
            server = stack.enter_context(serve_in_thread(create_app(sandbox)))
            started.append(RunningSandbox(sandbox=sandbox, server=server, clock=clock))
            return started[-1]

        yield start
        for running in started:
            for client in running.clients:
                if isinstance(client, AsyncAnthropic):
                    await client.close()
                else:
                    client.close()


@pytest.fixture
def guide(shared_data: Path) -> str:
    """About 3,700 tokens of a real style guide: above every model's minimum cacheable length."""
    folder = shared_data / "guides" / "18f-content-guide" / "our-approach"
    return "\n\n".join((folder / page).read_text(encoding="utf-8") for page in GUIDE_PAGES)


@pytest.fixture
def google_rules(shared_data: Path) -> Path:
    return shared_data / "styles" / "Google" / "Google"
