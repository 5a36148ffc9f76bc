"""What retrieval did in a distributed run, for its report: each worker counts the packs it
lays out (``context.ContextStats``, one per pack, as `run` counts them in its one process)
and stores a job's counts when the job ends; `blockpass report` adds every stored count.

A pack's counts are told to the worker as the pack is laid out (``RetrievedRules.on_pack``)
and kept by the blocks they cover: the packs a job lays out hold only that job's blocks, so
a job ending takes exactly its own, whatever other jobs of the run the worker is sending at
the same time. What a job lays out is stored even when the job fails (its packs went out,
as `run`'s do); a worker killed mid-job loses the counts of the job it was sending, and the
job retried elsewhere counts its packs again.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from psycopg.types.json import Jsonb

from blockpass.context import ContextStats, Fallback
from blockpass.store.postgres_schema import Connection

__all__ = ["PackCounts", "load_counts", "save_counts"]


class PackCounts:
    """Each laid-out pack's counts, until the job they belong to takes them."""

    def __init__(self) -> None:
        self._packs: list[ContextStats] = []

    def add(self, counts: ContextStats) -> None:
        self._packs.append(counts)

    def take(self, block_ids: Collection[str]) -> ContextStats | None:
        """The counts of the packs of these blocks, added up and forgotten here; None when
        none was laid out."""
        wanted = set(block_ids)
        taken = [pack for pack in self._packs if pack.blocks <= wanted]
        self._packs = [pack for pack in self._packs if not pack.blocks <= wanted]
        return ContextStats.merged(taken)


async def save_counts(connection: Connection, run: str, counts: ContextStats) -> None:
    await connection.execute(
        "INSERT INTO blockpass_context_counts (run, counts) VALUES (%s, %s)",
        (run, Jsonb(_stored_form(counts))),
    )


async def load_counts(connection: Connection, run: str) -> ContextStats | None:
    """Every stored count of the run added up; None for a run that sends the whole guide
    (no retrieval stored), zeros for one whose workers laid out no pack yet."""
    cursor = await connection.execute(
        "SELECT count(*) FROM blockpass_retrievals WHERE run = %s", (run,)
    )
    found = await cursor.fetchone()
    if not (found and found[0]):
        return None
    cursor = await connection.execute(
        "SELECT counts FROM blockpass_context_counts WHERE run = %s", (run,)
    )
    return ContextStats.merged(
        [ContextStats(), *(_from_stored(row[0]) for row in await cursor.fetchall())]
    )


def _stored_form(counts: ContextStats) -> dict[str, Any]:
    return {
        "blocks": sorted(counts.blocks),
        "widened": sorted(counts.widened),
        "fallback": {kind.value: sorted(ids) for kind, ids in counts.fallback.items()},
        "trimmed_units": counts.trimmed_units,
        "packs": counts.packs,
        "units_sent": counts.units_sent,
        "shared_units": counts.shared_units,
        "shared_tokens": counts.shared_tokens,
        "own_tokens": counts.own_tokens,
    }


def _from_stored(stored: dict[str, Any]) -> ContextStats:
    return ContextStats(
        blocks=set(stored["blocks"]),
        widened=set(stored["widened"]),
        fallback={Fallback(kind): set(ids) for kind, ids in stored["fallback"].items()},
        trimmed_units=stored["trimmed_units"],
        packs=stored["packs"],
        units_sent=stored["units_sent"],
        shared_units=stored["shared_units"],
        shared_tokens=stored["shared_tokens"],
        own_tokens=stored["own_tokens"],
    )
