"""A pack sent through a tool loop (``mcp_bridge/loop.py``), every turn stored as a call.

Each turn is a request of its own, paid for: it is stored as started before it goes out and
recorded, with its usage, as soon as it comes back (status ``tool_turn``, no results), so
the ledger, the report and a resumed run count it even when a later turn fails. The turn that
answers is the pack's answer, and the caller records it with its results like any other
call. A loop stopped by a cap sends the pack's blocks back to be tried again or failed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio

from blockpass.execution.clock import Clock
from blockpass.execution.packwork import ExecutionParts
from blockpass.ledger import TOOL_TURN
from blockpass.mcp_bridge.client import ServerAddress, open_toolbox
from blockpass.mcp_bridge.loop import (
    Continuations,
    LoopEnd,
    LoopLimits,
    LoopTurn,
    ToolRunner,
    run_tool_loop,
)
from blockpass.packing import Pack
from blockpass.providers.base import ModelRequest, ModelResponse, Provider

__all__ = ["TOOL_TURN", "OpenCall", "ToolLoop", "open_job_tools", "send_through_tools"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolLoop:
    """The tools a run offers its model, and the caps on each pack's loop."""

    runner: ToolRunner
    limits: LoopLimits = field(default_factory=LoopLimits)
    # What the run's turns did so far, which decides where conversation breakpoints pay.
    continuations: Continuations = field(default_factory=Continuations)


@asynccontextmanager
async def open_job_tools(
    servers: Sequence[ServerAddress],
    *,
    limits: LoopLimits,
    server_log: Path,
    own: ToolRunner | None = None,
) -> AsyncIterator[ToolLoop | None]:
    """The job's MCP servers, connected once for all its packs, with ``own`` tools served
    in-process beside theirs; None without either. What launched servers write to stderr
    is appended to ``server_log``."""
    if not servers:
        yield None if own is None else ToolLoop(runner=own, limits=limits)
        return
    with server_log.open("a", encoding="utf-8") as log:
        async with open_toolbox(servers, own=own, server_log=log) as toolbox:
            yield ToolLoop(runner=toolbox, limits=limits)


@dataclass(slots=True)
class OpenCall:
    """The call in flight: its stored start, and when it went out."""

    start_id: int = 0
    started: float = 0.0


async def send_through_tools(
    *,
    provider: Provider,
    parts: ExecutionParts,
    tools: ToolLoop,
    clock: Clock,
    pack: Pack,
    request: ModelRequest,
    attempt: int,
    current: OpenCall,
) -> ModelResponse | LoopEnd:
    """The answering response, or the cap that stopped the loop (its turns all stored).

    ``current`` always holds the call in flight, for the caller to record if it fails."""
    recorder = parts.recorder

    async def send(sent: ModelRequest) -> None:
        current.start_id = await recorder.start_call(
            pack, sent, input_tokens=parts.layout.input_tokens(sent), attempt=attempt
        )
        current.started = clock.now()

    async def record_turn(turn: LoopTurn) -> None:
        if not turn.response.tool_calls:
            return  # the answer: recorded by the caller with its results
        with anyio.CancelScope(shield=True):
            parts.stats.calls += 1
            call = recorder.call_record(
                pack,
                status=TOOL_TURN,
                started=current.started,
                attempt=attempt,
                start_id=current.start_id,
                usage=turn.response.usage,
            )
            await recorder.record_answer(call, [])

    outcome = await run_tool_loop(
        provider,
        request,
        tools.runner,
        limits=tools.limits,
        continuations=tools.continuations,
        on_send=send,
        on_turn=record_turn,
    )
    return outcome.response if outcome.end is LoopEnd.ANSWERED else outcome.end
