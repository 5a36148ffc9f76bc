"""The sandbox application: one ASGI app holding the emulated provider's state.

Vendors plug in as route groups (``anthropic/routes.py``, ``openai/routes.py``) sharing the
clock, faults, responder and stats, so adding one does not restructure the server.

Two endpoints outside any vendor's API serve tests and benchmarks that run the sandbox in
another process: ``GET /_sandbox/stats`` (request counters, usage totals, batches created and
items submitted per vendor, webhook deliveries) and ``POST /_sandbox/clock/advance``
(``{"seconds": N}``, only with a manual clock; it also brings the OpenAI batches up to date,
so their webhooks leave at once).

With ``webhook_url`` set, a finished OpenAI batch is announced there, signed with
``webhook_secret`` (``openai/webhooks.py``). Batches advance only when looked at, so the
app's lifespan also looks at them every ``ADVANCE_EVERY_SECONDS`` of real time; the server
must run the lifespan (``server.py`` does).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
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
from blockpass.sandbox.openai.routes import OpenAIState, openai_routes
from blockpass.sandbox.openai.webhooks import (
    COUNTERS,
    DEFAULT_RETRY_DELAYS,
    DEFAULT_WEBHOOK_SECRET,
    WebhookSender,
    signing_key,
)
from blockpass.sandbox.presence import RuleLinks
from blockpass.sandbox.quality import QualityModel
from blockpass.sandbox.ratelimit import RateLimiter
from blockpass.sandbox.responder import Responder, ToolUse

DEFAULT_API_KEY = "sandbox-key"
ADVANCE_EVERY_SECONDS = 0.2
VENDORS = ("anthropic", "openai")

logger = logging.getLogger(__name__)


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
    webhook_url: str | None = None
    webhook_secret: str = DEFAULT_WEBHOOK_SECRET
    webhook_retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS
    tool_use: ToolUse = field(default_factory=ToolUse)
    # What cheaper models miss (``quality.py``); by default every model finds everything.
    quality: QualityModel = field(default_factory=QualityModel)

    def __post_init__(self) -> None:
        signing_key(self.webhook_secret)  # a bad secret fails here, not at the first delivery


@dataclass(slots=True)
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    usage: Counter[str] = field(default_factory=Counter)
    # Zeros are kept so that a client can read any counter without a default.
    batches: dict[str, Counter[str]] = field(
        default_factory=lambda: {vendor: Counter(created=0, items=0) for vendor in VENDORS}
    )
    webhooks: Counter[str] = field(default_factory=lambda: Counter(dict.fromkeys(COUNTERS, 0)))

    def count(self, key: str) -> None:
        self.requests[key] += 1

    def batch_created(self, vendor: str, items: int) -> None:
        self.batches[vendor]["created"] += 1
        self.batches[vendor]["items"] += items

    def record_usage(self, usage: dict[str, Any]) -> None:
        for key, value in usage.items():
            if isinstance(value, int):
                self.usage[key] += value
        for key, value in usage["cache_creation"].items():
            self.usage[key] += value

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "usage": dict(self.usage),
            "batches": {vendor: dict(counters) for vendor, counters in self.batches.items()},
            "webhooks": dict(self.webhooks),
        }


class Sandbox:
    """The emulated provider's state; one per app."""

    def __init__(
        self, config: SandboxConfig, *, clock: Clock | None = None, faults: FaultPlan | None = None
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.faults = faults or FaultPlan()
        self.stats = Stats()
        self.webhooks = (
            WebhookSender(
                config.webhook_url,
                config.webhook_secret,
                self.stats.webhooks,
                retry_delays=config.webhook_retry_delays,
            )
            if config.webhook_url
            else None
        )
        rules = load_vale_package(config.rules).rules if config.rules else ()
        links = RuleLinks.beside(config.rules) if config.rules else None
        self.responder = Responder(rules, links, config.tool_use, config.quality)
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
            on_created=lambda batch: self.stats.batch_created("anthropic", len(batch.items)),
        )
        self.openai = OpenAIState(self)


def create_app(sandbox: Sandbox) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as background:
            if sandbox.webhooks is not None:
                # Started before the server takes requests, so a batch that finishes in the
                # first request has somewhere to be announced.
                await background.start(sandbox.webhooks.run)
                background.start_soon(_advance_batches, sandbox)
            yield
            background.cancel_scope.cancel()

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(sandbox.stats.as_json())

    async def advance_clock(request: Request) -> JSONResponse:
        if not isinstance(sandbox.clock, ManualClock):
            return JSONResponse({"error": "the sandbox runs on the wall clock"}, status_code=409)
        body = await request.json()
        sandbox.clock.advance(float(body["seconds"]))
        sandbox.openai.batches.advance_all()
        return JSONResponse({"now": sandbox.clock.now()})

    routes = [
        *anthropic_routes(sandbox),
        *openai_routes(sandbox),
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/clock/advance", advance_clock, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app


async def _advance_batches(sandbox: Sandbox) -> None:
    while True:
        try:
            sandbox.openai.batches.advance_all()
        except Exception:
            # A request that looked at the batch would have got a 500; here nobody would see
            # it, and ending the task would end all later deliveries too.
            logger.exception("advancing the OpenAI batches failed")
        await anyio.sleep(ADVANCE_EVERY_SECONDS)
