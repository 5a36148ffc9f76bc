"""A distributed run's tools, as `submit` planned them, kept in the database for the workers.

A run submitted with ``--mcp`` or in agentic mode sends each pack through a tool loop, as
`run` does. The submitter connects to the servers once, lists their tools and keeps, beside
the queue, what every worker must offer the model: the servers' addresses, the loop's caps,
and the fingerprint of the catalog it saw (`catalog_fingerprint`: the tools as requests
carry them). The tools sit in the cached prefix, so a worker whose servers list other tools
would write another cache entry and ask another question: it refuses the pack instead
(`tool_runs.py`).

In agentic mode the catalog holds blockpass's own ``search_style_rules``, which answers
from the guide's rule index. The submitter stores that index as it built it (its units and
the files of its folder, BM25 model and unit embeddings) and the core unit ids, so a worker
searches exactly what `run` would search and needs no guide files (it still embeds the
model's query texts, with the same embedding model).

    blockpass_tools        run PK, servers (address texts, in the order given), catalog
                           (fingerprint), limits (JSON), core (unit ids; NULL: no
                           search_style_rules), index_folder, units (JSON)
    blockpass_index_files  (run, path) PK, body: the rule index's folder, file by file
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from psycopg.types.json import Jsonb

from blockpass.mcp_bridge.loop import LoopLimits
from blockpass.mcp_bridge.tools import ToolCatalog
from blockpass.rag.units import RuleUnit, Triggers, UnitKind
from blockpass.store.postgres_schema import Connection

__all__ = [
    "TOOL_TABLES",
    "StoredIndex",
    "SubmittedTools",
    "catalog_fingerprint",
    "load_tools",
    "save_tools",
]

TOOL_TABLES = """
CREATE TABLE IF NOT EXISTS blockpass_tools (
    run text PRIMARY KEY REFERENCES blockpass_submissions (run) ON DELETE CASCADE,
    servers text[] NOT NULL,
    catalog text NOT NULL,
    limits jsonb NOT NULL,
    core text[],
    index_folder text,
    units jsonb
);
CREATE TABLE IF NOT EXISTS blockpass_index_files (
    run text NOT NULL REFERENCES blockpass_tools (run) ON DELETE CASCADE,
    path text NOT NULL,
    body bytea NOT NULL,
    PRIMARY KEY (run, path)
);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredIndex:
    """The guide's rule index as the submitter built it: ``folder`` is its folder's name
    (``rules-<corpus key>``), ``files`` its files by path within it."""

    folder: str
    units: tuple[RuleUnit, ...]
    files: tuple[tuple[str, bytes], ...]
    core: tuple[str, ...]

    @classmethod
    def read(cls, folder: Path, units: tuple[RuleUnit, ...], core: tuple[str, ...]) -> StoredIndex:
        """The index in ``folder`` (blocking: it reads the files)."""
        files = tuple(
            (path.relative_to(folder).as_posix(), path.read_bytes())
            for path in sorted(folder.rglob("*"))
            if path.is_file()
        )
        return cls(folder=folder.name, units=units, files=files, core=core)

    def write(self, cache_dir: Path) -> None:
        """The index's folder again, under ``cache_dir`` (blocking)."""
        for name, body in self.files:
            path = cache_dir / self.folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmittedTools:
    """What a run's workers offer the model: ``servers`` (``--mcp`` addresses as given),
    the catalog's fingerprint, the loop's caps and (agentic mode) the rule index."""

    servers: tuple[str, ...]
    catalog: str
    limits: LoopLimits
    index: StoredIndex | None = None


def catalog_fingerprint(catalog: ToolCatalog) -> str:
    """A hash of the tools as a request carries them (sorted by name, schemas' keys sorted):
    equal catalogs, equal bytes in the cached prefix."""
    tools = [
        {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
            "strict": tool.strict,
        }
        for tool in catalog.definitions
    ]
    text = json.dumps(tools, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


async def save_tools(connection: Connection, run: str, tools: SubmittedTools | None) -> None:
    """Replace the run's tools (``None``: its packs go without); in the caller's transaction,
    with the submission they belong to."""
    await connection.execute("DELETE FROM blockpass_tools WHERE run = %s", (run,))
    if tools is None:
        return
    index = tools.index
    await connection.execute(
        "INSERT INTO blockpass_tools (run, servers, catalog, limits, core, index_folder, units)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (
            run,
            list(tools.servers),
            tools.catalog,
            Jsonb(asdict(tools.limits)),
            None if index is None else list(index.core),
            None if index is None else index.folder,
            None if index is None else Jsonb([_unit_json(unit) for unit in index.units]),
        ),
    )
    if index is not None:
        async with connection.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO blockpass_index_files (run, path, body) VALUES (%s, %s, %s)",
                [(run, name, body) for name, body in index.files],
            )


async def load_tools(connection: Connection, run: str) -> SubmittedTools | None:
    """The run's tools as submitted; None for a run whose packs go without."""
    cursor = await connection.execute(
        "SELECT servers, catalog, limits, core, index_folder, units FROM blockpass_tools"
        " WHERE run = %s",
        (run,),
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    servers, catalog, limits, core, folder, units = row
    index = None
    if core is not None:
        cursor = await connection.execute(
            "SELECT path, body FROM blockpass_index_files WHERE run = %s ORDER BY path", (run,)
        )
        index = StoredIndex(
            folder=folder,
            units=tuple(_unit(unit) for unit in units),
            files=tuple((path, bytes(body)) for path, body in await cursor.fetchall()),
            core=tuple(core),
        )
    return SubmittedTools(
        servers=tuple(servers), catalog=catalog, limits=LoopLimits(**limits), index=index
    )


def _unit_json(unit: RuleUnit) -> dict[str, Any]:
    return {**asdict(unit), "kind": unit.kind.value}


def _unit(stored: dict[str, Any]) -> RuleUnit:
    triggers = stored["triggers"]
    return RuleUnit(
        **{
            **stored,
            "kind": UnitKind(stored["kind"]),
            "heading_path": tuple(stored["heading_path"]),
            "triggers": Triggers(terms=tuple(triggers["terms"]), pattern=triggers["pattern"]),
        }
    )
