"""Connections to MCP servers, through the official ``mcp`` SDK (2.x), for the tool loop.

A server is given as ``"stdio:COMMAND ARGS"`` (split as a shell would, and launched as a
subprocess speaking over its stdin and stdout) or as an ``http://``/``https://`` URL
(streamable HTTP). ``open_toolbox`` connects to several at once and offers their tools under
unique names (``tools.py``), beside blockpass's own tools served in-process (``own``: agentic
mode's ``search_style_rules``), which keep their names: a server's tool of the same name is
the one renamed. The model sees one catalog, sorted by name.

Each connection lists its tools once and keeps the list until the server says it changed
(``notifications/tools/list_changed``): the next ``catalog()`` lists again. Connections use
the handshake-era protocol (``mode="legacy"``, 2025-11-25): every server published today
speaks it, and there the change notice arrives on its own; on the 2026-07-28 protocol it
needs a ``subscriptions/listen`` stream held open beside the calls.

A call that fails inside the server (the tool raised, it answered ``isError``, it rejected
the arguments, it did not answer within the timeout) comes back as a tool error for the
model to read, never as an exception. A server whose process exited or whose connection
dropped raises ``ToolServerGone``, once, naming the server. The SDK is imported when a
toolbox opens, so that importing blockpass does not import it.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, TypeVar

import anyio

from blockpass.errors import ToolServerGone, UserInputError
from blockpass.mcp_bridge.loop import ToolRunner
from blockpass.mcp_bridge.tools import ServerTool, ToolCatalog, build_catalog
from blockpass.providers.base import ToolCall, ToolResult

if TYPE_CHECKING:
    from mcp import Client
    from mcp.client import Transport
    from mcp.client.session import IncomingMessage
    from mcp_types import CallToolResult

Result = TypeVar("Result")
DEFAULT_CALL_TIMEOUT_SECONDS = 60.0
STDIO_PREFIX = "stdio:"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerAddress:
    """Where a server is: a command to launch, or a URL."""

    text: str
    command: tuple[str, ...] = ()
    url: str = ""


def parse_server_address(text: str) -> ServerAddress:
    if text.startswith(STDIO_PREFIX):
        try:
            command = tuple(shlex.split(text[len(STDIO_PREFIX) :]))
        except ValueError as error:
            raise UserInputError(f"--mcp {text!r}: {error}") from None
        if not command:
            raise UserInputError(f"--mcp {text!r}: no command after 'stdio:'")
        return ServerAddress(text=text, command=command)
    if text.startswith(("http://", "https://")):
        return ServerAddress(text=text, url=text)
    raise UserInputError(f"--mcp {text!r}: give 'stdio:COMMAND ARGS' or an http:// or https:// URL")


@dataclass(slots=True)
class _Connection:
    """One server's session and its cached tool list."""

    position: int
    address: ServerAddress
    client: Client = field(init=False)
    listed: tuple[ServerTool, ...] | None = None
    gone: str = ""
    listings: int = 0

    async def message(self, message: IncomingMessage) -> None:
        from mcp_types import ToolListChangedNotification

        if isinstance(message, ToolListChangedNotification):
            self.listed = None

    async def tools(self) -> tuple[ServerTool, ...]:
        if self.listed is None:
            found: list[ServerTool] = []
            cursor: str | None = None
            while True:
                page = await self.client.list_tools(cursor=cursor, cache_mode="refresh")
                found += [
                    ServerTool(
                        server=self.position,
                        name=tool.name,
                        description=tool.description or "",
                        input_schema=tool.input_schema,
                    )
                    for tool in page.tools
                ]
                cursor = page.next_cursor
                if cursor is None:
                    break
            self.listed = tuple(found)
            self.listings += 1
        return self.listed


@dataclass(slots=True)
class McpToolbox:
    """The tools of several MCP servers, and ``own`` tools beside them, called by the names
    the model sees."""

    connections: list[_Connection]
    call_timeout: float
    own: ToolRunner | None = None
    _catalog: ToolCatalog | None = field(default=None)
    _listed_from: tuple[ToolCatalog | None, tuple[tuple[ServerTool, ...], ...]] = (None, ())

    @property
    def listings(self) -> int:
        """How many times the servers' tools were listed in all (once per connection, plus
        once per change notice)."""
        return sum(connection.listings for connection in self.connections)

    async def catalog(self) -> ToolCatalog:
        """The tools of every server, listed again where a server said its list changed."""
        own = None if self.own is None else await self.own.catalog()
        listed = tuple([await self._guarded(c, c.tools) for c in self.connections])
        if self._catalog is None or (own, listed) != self._listed_from:
            reserved = frozenset() if own is None else frozenset(own.names)
            servers = build_catalog([tool for tools in listed for tool in tools], reserved=reserved)
            self._catalog = servers if own is None else servers.beside(own)
            self._listed_from = (own, listed)
        return self._catalog

    async def call(self, call: ToolCall) -> ToolResult:
        """One call, answered with the tool's output or with a tool error."""
        if self.own is not None and call.name in (await self.own.catalog()).names:
            return await self.own.call(call)
        entry = (await self.catalog()).find(call.name)
        if entry is None:
            return _error(call, f"there is no tool named {call.name!r}")
        if call.raw_arguments:
            return _error(call, f"the arguments are not a JSON object: {call.raw_arguments!r}")
        connection = self.connections[entry.server]
        from mcp import MCPError

        try:
            with anyio.fail_after(self.call_timeout):
                result = await self._guarded(
                    connection,
                    partial(connection.client.call_tool, entry.server_name, call.arguments),
                )
        except TimeoutError:
            return _error(call, f"the tool did not answer within {self.call_timeout:g} s")
        except MCPError as error:
            return _error(call, f"the tool failed: {error}")
        return ToolResult(call_id=call.id, output=_output_text(result), is_error=result.is_error)

    async def _guarded(
        self, connection: _Connection, work: Callable[[], Awaitable[Result]]
    ) -> Result:
        """Run ``work`` on ``connection``; a dead server becomes one ``ToolServerGone``."""
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        if connection.gone:
            raise _gone(connection, connection.gone)
        try:
            return await work()
        except MCPError as error:
            if error.code != CONNECTION_CLOSED:
                raise
            connection.gone = str(error)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream) as error:
            connection.gone = str(error) or type(error).__name__
        raise _gone(connection, connection.gone)


def _gone(connection: _Connection, reason: str) -> ToolServerGone:
    return ToolServerGone(f"MCP server {connection.address.text!r} went away: {reason}")


@asynccontextmanager
async def open_toolbox(
    addresses: Sequence[ServerAddress],
    *,
    call_timeout: float = DEFAULT_CALL_TIMEOUT_SECONDS,
    own: ToolRunner | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    server_log: TextIO = sys.stderr,
) -> AsyncIterator[McpToolbox]:
    """Connect to every server, list their tools, and close them all on the way out.

    For launched commands: ``cwd`` and ``env`` (added to a minimal safe environment), and
    ``server_log``, a real file that takes what they write to stderr (a run's log rather than
    the terminal its progress is drawn on)."""
    from mcp import Client

    raised: list[BaseException] = []
    try:
        async with AsyncExitStack() as stack:
            connections: list[_Connection] = []
            for position, address in enumerate(addresses):
                connection = _Connection(position=position, address=address)
                connection.client = Client(
                    _server(address, cwd=cwd, env=env, server_log=server_log),
                    mode="legacy",
                    cache=None,
                    message_handler=connection.message,
                )
                try:
                    await stack.enter_async_context(connection.client)
                except Exception as error:
                    failure = UserInputError(
                        f"--mcp {address.text!r}: cannot connect: {_reason(error)}"
                    )
                    raised.append(failure)
                    raise failure from None
                connections.append(connection)
            toolbox = McpToolbox(connections=connections, call_timeout=call_timeout, own=own)
            await toolbox.catalog()
            try:
                yield toolbox
            except BaseException as error:
                raised.append(error)
                raise
    except BaseExceptionGroup as group:
        # The SDK's task groups wrap whatever leaves the block on its way out; the caller
        # gets the error it raised (or the connection failure) as it was.
        if raised and group.subgroup(lambda error: error is raised[-1]) is not None:
            raise raised[-1] from None
        raise


def _server(
    address: ServerAddress, *, cwd: Path | None, env: dict[str, str] | None, server_log: TextIO
) -> Transport | str:
    """What the SDK's client connects to: a URL, or a command launched over stdio."""
    from mcp import StdioServerParameters, stdio_client

    if not address.command:
        return address.url
    command = StdioServerParameters(
        command=address.command[0], args=list(address.command[1:]), cwd=cwd, env=env
    )
    return stdio_client(command, errlog=server_log)


def _reason(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_reason(inner) for inner in error.exceptions)
    return str(error) or type(error).__name__


def _error(call: ToolCall, message: str) -> ToolResult:
    return ToolResult(call_id=call.id, output=message, is_error=True)


def _output_text(result: CallToolResult) -> str:
    """What the model reads: the text blocks, a short stand-in for other content, and the
    structured result when there is no text."""
    pieces = []
    for block in result.content:
        text = getattr(block, "text", None)
        pieces.append(text if isinstance(text, str) else f"[{block.type} content]")
    if not any(piece for piece in pieces) and result.structured_content is not None:
        pieces = [json.dumps(result.structured_content, ensure_ascii=False, sort_keys=True)]
    return "\n".join(pieces)
