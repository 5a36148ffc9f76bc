"""Serving the sandbox: in the foreground for `blockpass sandbox`, on a thread for tests, or
on a thread for the length of one job that rehearses against it (``serve_rehearsal``).

The thread variant binds 127.0.0.1 port 0 itself, so tests run in parallel without port
clashes, and waits (bounded) until uvicorn is accepting connections.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette

from blockpass.errors import UserInputError
from blockpass.sandbox.anthropic.batches import BatchSettings
from blockpass.sandbox.app import Sandbox, SandboxConfig, create_app
from blockpass.sandbox.faults import FaultPlan, FaultSpecError, parse_rates
from blockpass.sandbox.quality import QualityModel
from blockpass.sandbox.streaming import HideInjectedDrops

if TYPE_CHECKING:
    from blockpass.providers.connections import RehearsalSettings

STARTUP_TIMEOUT_SECONDS = 10.0
# A rehearsal's fault draws are seeded, so that one job's rehearsal fails the same way each time.
REHEARSAL_FAULT_SEED = 7


@dataclass(frozen=True, slots=True)
class RunningServer:
    host: str
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _config(app: Starlette, *, log_level: str) -> uvicorn.Config:
    logging.getLogger("uvicorn.error").addFilter(HideInjectedDrops())
    # The lifespan runs the sandbox's background work (webhook delivery), so it must run.
    return uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")


def serve(app: Starlette, *, host: str, port: int) -> None:
    config = _config(app, log_level="info")
    config.host, config.port = host, port
    uvicorn.Server(config).run()


@contextmanager
def serve_in_thread(app: Starlette, *, host: str = "127.0.0.1") -> Iterator[RunningServer]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    server = uvicorn.Server(_config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the sandbox server failed to start")
            if time.monotonic() > deadline:
                raise TimeoutError("the sandbox server did not start in time")
            thread.join(0.005)
        yield RunningServer(host=host, port=sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_TIMEOUT_SECONDS)
        sock.close()


@contextmanager
def serve_rehearsal(settings: RehearsalSettings) -> Iterator[str]:
    """Serve a sandbox on 127.0.0.1 while the block runs; yields its base URL."""
    if settings.rules is not None and not settings.rules.is_dir():
        raise UserInputError(f"--sandbox-rules: not a folder: {settings.rules}")
    try:
        faults = FaultPlan(rates=parse_rates(settings.faults), seed=REHEARSAL_FAULT_SEED)
    except FaultSpecError as error:
        raise UserInputError(f"--sandbox-faults: {error}") from None
    sandbox = Sandbox(
        SandboxConfig(
            rules=settings.rules,
            latency=settings.latency,
            batches=BatchSettings(
                processing_seconds=settings.batch_seconds, expiry_seconds=settings.batch_expiry
            ),
            quality=QualityModel.assumed() if settings.quality_model else QualityModel(),
        ),
        faults=faults,
    )
    with serve_in_thread(create_app(sandbox)) as server:
        yield server.base_url
