"""MCP servers the tests talk to, written with the ``mcp`` SDK's server API (``MCPServer``).

``python -m tests.mcp_bridge.servers NAME [ORDER]`` serves one over stdio; ``http_app(NAME)``
gives the same server as a streamable HTTP app for uvicorn. ``ORDER`` ``reversed`` lists the
tools in the opposite order, as another server (or another version of it) might.

- ``rules``: ``search_style_rules(text, k)`` returning the rule texts that mention a word of
  the text, and ``count_words(text)``; ``add_tool`` registers ``late_tool`` and announces the
  change (``notifications/tools/list_changed``).
- ``hostile``: ``search_style_rules`` that raises, ``stall`` that never answers, ``quit``
  that ends the server's process, ``bounded(text)`` whose schema strict mode rejects.
- ``twin``: another ``search_style_rules`` and ``count_words``, to clash with ``rules``'.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

RULES = (
    "Google.Will: avoid 'will'; write in the present tense.",
    "Google.Exclamation: do not use exclamation points in text.",
    "Google.We: avoid first-person plural like 'we'.",
)


def rules_server(order: str = "") -> MCPServer:
    server = MCPServer("blockpass-test-rules")

    def search_style_rules(text: str, k: int = 2) -> str:
        """Search the style guide: returns the rules that apply to the text."""
        words = {word.strip(".,!?'\"").lower() for word in text.split()}
        found = [rule for rule in RULES if any(f"'{word}'" in rule for word in words)]
        return "\n".join(found[:k]) or "no rule found"

    def count_words(text: str) -> int:
        """Count the words of a text."""
        return len(text.split())

    async def add_tool(ctx: Context) -> str:
        """Register late_tool and announce the change."""

        def late_tool(text: str) -> str:
            """A tool registered while the server runs."""
            return text.upper()

        server.add_tool(late_tool)
        await ctx.request_context.session.send_tool_list_changed()
        return "added late_tool"

    tools: list[Any] = [search_style_rules, count_words, add_tool]
    for tool in reversed(tools) if order == "reversed" else tools:
        server.add_tool(tool)
    return server


def hostile_server() -> MCPServer:
    server = MCPServer("blockpass-test-hostile")

    @server.tool()
    def search_style_rules(text: str) -> str:
        """Search the style rules (this one is broken)."""
        raise RuntimeError("the rule index is corrupt")

    @server.tool()
    async def stall(text: str) -> str:
        """Never answers."""
        await anyio.Event().wait()
        return text

    @server.tool()
    def quit(text: str) -> str:
        """Ends the server's process."""
        os._exit(3)

    @server.tool()
    def bounded(text: Annotated[str, Field(max_length=20)], note: str = "") -> str:
        """A schema with a length bound and an optional property."""
        return text

    return server


def twin_server() -> MCPServer:
    server = MCPServer("blockpass-test-twin")

    @server.tool()
    def search_style_rules(text: str) -> str:
        """The twin's rules lookup: returns the rules."""
        return "twin: no rule found"

    @server.tool()
    def count_words(text: str) -> int:
        """The twin's word count."""
        return -1

    return server


def build(name: str, order: str = "") -> MCPServer:
    if name == "rules":
        return rules_server(order)
    return {"hostile": hostile_server, "twin": twin_server}[name]()


def http_app(name: str, order: str = "") -> Any:
    return build(name, order).streamable_http_app(host="127.0.0.1")


if __name__ == "__main__":
    anyio.run(build(*sys.argv[1:]).run_stdio_async)
