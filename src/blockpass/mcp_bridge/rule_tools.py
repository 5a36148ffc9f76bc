"""``search_style_rules`` served in-process, from a guide's rule index, for agentic runs.

In agentic mode (``ContextMode.AGENTIC``) a request carries the guide's core and this tool
instead of units retrieved for its pack: the model decides what to look up. The tool is a
``ToolRunner`` like an MCP toolbox, so the tool loop cannot tell them apart; it answers with
the units as a retrieve-mode request carries them (``<rule id="...">`` elements), leaving
out the core the prefix already holds. Bad arguments are tool errors the model can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import anyio

from blockpass.mcp_bridge.tools import ServerTool, ToolCatalog, build_catalog
from blockpass.providers.base import ToolCall, ToolResult
from blockpass.rag import RuleIndex
from blockpass.unit_framing import UnitLabels, render_units

__all__ = ["MAX_K", "SEARCH_TOOL", "StyleRuleTools", "search_arguments"]

SEARCH_TOOL = "search_style_rules"
MAX_K = 20
DEFAULT_K = 5
SEARCH_DESCRIPTION = (
    "Search the style guide for the rules that apply to a text (a block, or a phrase from "
    "it). The guide's core rules are already in the instructions; look up any other rule a "
    "block may need before answering. Returns up to k rules, best first."
)
SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "description": "the text to find rules for"},
        "k": {
            "type": "integer",
            "description": f"how many rules (default {DEFAULT_K})",
            "minimum": 1,
            "maximum": MAX_K,
        },
    },
    # k may be left out, and says its bounds: strict mode takes neither, so the tool is sent
    # without it (``tools.strict_problems``) and the bounds are checked here.
    "required": ["text"],
    "additionalProperties": False,
}


def search_arguments(arguments: dict[str, Any]) -> tuple[str, int]:
    """The text and k of a search, or ValueError saying what is wrong with them."""
    text, k = arguments.get("text"), arguments.get("k", DEFAULT_K)
    unknown = sorted(set(arguments) - {"text", "k"})
    if unknown:
        raise ValueError(f"unknown argument {unknown[0]!r}: give text and k")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty string")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValueError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    return text, k


class StyleRuleTools:
    def __init__(self, index: RuleIndex, *, core: Sequence[str] = ()) -> None:
        self._index = index
        self._labels = UnitLabels.of(index.units)
        self._core = frozenset(core)
        self._catalog = build_catalog(
            [
                ServerTool(
                    server=0,
                    name=SEARCH_TOOL,
                    description=SEARCH_DESCRIPTION,
                    input_schema=SEARCH_SCHEMA,
                )
            ]
        )

    async def catalog(self) -> ToolCatalog:
        return self._catalog

    async def call(self, call: ToolCall) -> ToolResult:
        if call.name != SEARCH_TOOL:
            return ToolResult(call_id=call.id, output=f"no tool {call.name!r}", is_error=True)
        try:
            text, k = search_arguments(call.arguments)
        except ValueError as problem:
            return ToolResult(call_id=call.id, output=str(problem), is_error=True)
        # The core is in the prefix already: ask for more, and keep k of the others.
        found = await anyio.to_thread.run_sync(
            partial(self._index.search, text, k + len(self._core))
        )
        units = [hit.unit for hit in found.hits if hit.unit.id not in self._core][:k]
        return ToolResult(
            call_id=call.id, output=render_units(units, self._labels) or "no rule found"
        )
