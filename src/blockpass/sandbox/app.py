"""The sandbox application: one ASGI app holding the emulated provider's state.

Vendors plug in as route groups (``anthropic/routes.py`` today; OpenAI-compatible endpoints
can join as another group sharing the clock, faults, responder and stats), so adding one does
not restructure the server.

Two endpoints outside any vendor's API serve tests and benchmarks that run the sandbox in
another process: ``GET /_sandbox/stats`` (request counters and usage totals) and
``POST /_sandbox/clock/advance`` (``{"seconds": N}``, only with a manual clock).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from blockpass.rules import load_vale_package
from blockpass.sandbox.anthropic.batches import BatchSettings, BatchStore
from blockpass.sandbox.anthropic.routes import anthropic_routes
from blockpass.sandbox.cache import PromptCache
from blockpass.sandbox.clock import Clock, ManualClock, SystemClock
from blockpass.sandbox.faults import FaultPlan
from blockpass.sandbox.openai.routes import openai_routes
from blockpass.sandbox.ratelimit import RateLimiter
from blockpass.sandbox.responder import Responder

DEFAULT_API_KEY = "sandbox-key"


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxConfig:
    api_key: str = DEFAULT_API_KEY
    rules: Path | None = None
    latency: float = 0.0
    token_latency: float = 0.0
    requests_per_minute: int | None = None
    input_tokens_per_minute: int | None = None
    output_tokens_per_minute: int | None = None
    count_tokens_per_minute: int | None = None
    batches: BatchSettings = field(default_factory=BatchSettings)


@dataclass(slots=True)
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)

    def count(self, key: str) -> None:
        self.requests[key] += 1

    def record_usage(self, usage: dict[str, Any]) -> None:
        for key, value in usage.items():
            if isinstance(value, int):
                self.usage[key] += value
        for key, value in usage["cache_creation"].items():
            self.usage[key] += value

    def as_json(self) -> dict[str, Any]:
        return {"requests": dict(self.requests), "usage": dict(self.usage)}


class Sandbox:
    """The emulated provider's state; one per app."""

    def __init__(
        self, config: SandboxConfig, *, clock: Clock | None = None, faults: FaultPlan | None = None
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or FaultPlan()
        rules = load_vale_package(config.rules).rules if config.rules else ()
        self.responder = Responder(rules)
        self.cache = PromptCache()
        self.limiter = RateLimiter(
            self.clock,
            requests_per_minute=config.requests_per_minute,
            input_tokens_per_minute=config.input_tokens_per_minute,
            output_tokens_per_minute=config.output_tokens_per_minute,
        )
        self.count_tokens_limiter = RateLimiter(
            self.clock, requests_per_minute=config.count_tokens_per_minute
        )
        self.batches = BatchStore(
            clock=self.clock,
            responder=self.responder,
            faults=self.faults,
            settings=config.batches,
            cache=PromptCache(),
        )
        self.stats = Stats()


def create_app(sandbox: Sandbox) -> Starlette:
    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(sandbox.stats.as_json())

    async def advance_clock(request: Request) -> JSONResponse:
        if not isinstance(sandbox.clock, ManualClock):
            return JSONResponse({"error": "the sandbox runs on the wall clock"}, status_code=409)
        body = await request.json()
        sandbox.clock.advance(float(body["seconds"]))
        return JSONResponse({"now": sandbox.clock.now()})

    routes = [
        *anthropic_routes(sandbox),
        *openai_routes(sandbox),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/clock/advance", advance_clock, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = sandbox
    return app
