"""A sandbox served on a thread of this process, for the length of one job that rehearses
against it (``providers.open_connection`` with a ``sandbox:`` connection and no address)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from blockpass.errors import UserInputError
from blockpass.sandbox.anthropic.batches import BatchSettings
from blockpass.sandbox.app import Sandbox, SandboxConfig, create_app
from blockpass.sandbox.faults import FaultPlan, FaultSpecError, parse_rates
from blockpass.sandbox.server import serve_in_thread

if TYPE_CHECKING:
    from blockpass.providers.connections import RehearsalSettings

__all__ = ["serve_rehearsal"]

# Fault draws are seeded, so that one job's rehearsal fails the same way each time.
FAULT_SEED = 7


@contextmanager
def serve_rehearsal(settings: RehearsalSettings) -> Iterator[str]:
    """Serve a sandbox on 127.0.0.1 while the block runs; yields its base URL."""
    if settings.rules is not None and not settings.rules.is_dir():
        raise UserInputError(f"--sandbox-rules: not a folder: {settings.rules}")
    try:
        faults = FaultPlan(rates=parse_rates(settings.faults), seed=FAULT_SEED)
    except FaultSpecError as error:
        raise UserInputError(f"--sandbox-faults: {error}") from None
    sandbox = Sandbox(
        SandboxConfig(
            rules=settings.rules,
            latency=settings.latency,
            batches=BatchSettings(
                processing_seconds=settings.batch_seconds, expiry_seconds=settings.batch_expiry
            ),
        ),
        faults=faults,
    )
    with serve_in_thread(create_app(sandbox)) as server:
        yield server.base_url
