"""A local stand-in for LLM provider APIs: see ``app.py`` and the README's sandbox section."""

from blockpass.sandbox.anthropic.batches import BatchSettings
from blockpass.sandbox.app import DEFAULT_API_KEY, Sandbox, SandboxConfig, create_app
from blockpass.sandbox.clock import ManualClock, SystemClock
from blockpass.sandbox.faults import FaultPlan
from blockpass.sandbox.openai.webhooks import DEFAULT_WEBHOOK_SECRET
from blockpass.sandbox.responder import ToolUse
from blockpass.sandbox.server import RunningServer, serve, serve_in_thread

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_WEBHOOK_SECRET",
    "BatchSettings",
    "FaultPlan",
    "ManualClock",
    "RunningServer",
    "Sandbox",
    "SandboxConfig",
    "SystemClock",
    "ToolUse",
    "create_app",
    "serve",
    "serve_in_thread",
]
