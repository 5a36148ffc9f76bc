"""MCP tool definitions as blockpass tool definitions: names made unique and valid, schemas
canonical, and the tools a provider's strict mode would reject flagged.

A ``ToolDefinition`` is what every adapter translates (``providers/tooldefs.py``:
Anthropic, Chat Completions and Responses shapes), and ``ModelRequest`` canonicalises the
tools it carries: sorted by name, their schemas' keys sorted at every level. So the tools
part of a cached prefix is the same bytes whatever order a server lists its tools in, and
whichever connection listed them.

Names. A vendor takes ``^[a-zA-Z0-9_-]{1,64}$``; an MCP name may hold dots or slashes, which
become ``_``. When two servers offer the same name (or a name is the result tool's, or one of
blockpass's own tools served beside the servers: ``reserved``), each clashing tool is called
``s{N}_{name}`` after its server's position in the list the run was given (``s1_``,
``s2_``...), so names stay stable from one run to the next; a unique name is kept as the
server gave it.

Strict mode. Anthropic and OpenAI both need every object closed (``additionalProperties:
false``) with every property required; Anthropic also rejects length and number bounds
(``PROVIDERS.md``). A tool whose schema breaks one of these is sent with ``strict: false``
and listed in ``ToolCatalog.flagged`` with the reasons, never dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from blockpass.packformat import RESULT_TOOL_NAME
from blockpass.providers.tooldefs import ToolDefinition

MAX_NAME_LENGTH = 64
_NOT_IN_NAME = re.compile(r"[^a-zA-Z0-9_-]")
# Keywords Anthropic's strict mode rejects (PROVIDERS.md); OpenAI's strict mode rejects
# most of them too.
_BOUNDS = frozenset(
    {
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "maxItems",
        "minProperties",
        "maxProperties",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTool:
    """A tool as one server listed it; ``server`` is the server's position (0-based)."""

    server: int
    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogEntry:
    """A tool under the name the model sees, and where it lives."""

    definition: ToolDefinition
    server: int
    server_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FlaggedTool:
    name: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCatalog:
    """Every server's tools under unique names, sorted by name."""

    entries: tuple[CatalogEntry, ...]

    @property
    def definitions(self) -> tuple[ToolDefinition, ...]:
        return tuple(entry.definition for entry in self.entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.definition.name for entry in self.entries)

    @property
    def flagged(self) -> tuple[FlaggedTool, ...]:
        """The tools sent without strict mode, and why their schemas cannot be strict."""
        return tuple(
            FlaggedTool(
                name=entry.definition.name, reasons=strict_problems(entry.definition.parameters)
            )
            for entry in self.entries
            if not entry.definition.strict
        )

    def find(self, name: str) -> CatalogEntry | None:
        return next((entry for entry in self.entries if entry.definition.name == name), None)

    def beside(self, other: ToolCatalog) -> ToolCatalog:
        """Both catalogs' tools in one, sorted by name (their names must not meet: build one
        with the other's names ``reserved``)."""
        entries = sorted(self.entries + other.entries, key=lambda entry: entry.definition.name)
        return ToolCatalog(entries=tuple(entries))


def build_catalog(
    tools: Sequence[ServerTool], *, reserved: frozenset[str] = frozenset()
) -> ToolCatalog:
    """``reserved``: names taken by tools served beside these, which a server's tool of the
    same name gives way to."""
    valid = [_valid_name(tool.name) for tool in tools]
    counts = Counter(valid)
    entries = []
    taken: set[str] = set(reserved)
    for tool, name in zip(tools, valid, strict=True):
        shown = name
        if counts[name] > 1 or name == RESULT_TOOL_NAME or name in reserved:
            shown = f"s{tool.server + 1}_{name}"[:MAX_NAME_LENGTH]
        # Two names of one server may still meet once made valid ("a.b", "a_b").
        suffix = 2
        while shown in taken:
            shown = f"{shown[: MAX_NAME_LENGTH - 4]}_{suffix}"
            suffix += 1
        taken.add(shown)
        definition = ToolDefinition(
            name=shown,
            description=tool.description,
            parameters=tool.input_schema,
            strict=not strict_problems(tool.input_schema),
        )
        entries.append(
            CatalogEntry(definition=definition, server=tool.server, server_name=tool.name)
        )
    entries.sort(key=lambda entry: entry.definition.name)
    return ToolCatalog(entries=tuple(entries))


def strict_problems(schema: dict[str, Any]) -> tuple[str, ...]:
    """Why strict mode would reject the schema: one reason per offending place, none if it
    is accepted."""
    problems: list[str] = []

    def visit(node: object, path: str) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                visit(item, f"{path}[{index}]")
            return
        if not isinstance(node, dict):
            return
        if node.get("type") == "object":
            if node.get("additionalProperties") is not False:
                problems.append(f"{path}: additionalProperties is not false")
            properties = node.get("properties") or {}
            missing = sorted(set(properties) - set(node.get("required", [])))
            if missing:
                problems.append(f"{path}: not required: {', '.join(missing)}")
        bounds = sorted(_BOUNDS.intersection(node))
        if bounds:
            problems.append(f"{path}: unsupported keyword {bounds[0]}")
        for key, value in node.items():
            if key not in ("enum", "const", "required", "default", "examples"):
                visit(value, f"{path}.{key}")

    visit(schema, "$")
    return tuple(problems)


def _valid_name(name: str) -> str:
    return (_NOT_IN_NAME.sub("_", name) or "_")[:MAX_NAME_LENGTH]
