"""Retrieve mode in a distributed run: what `submit` retrieved, kept in the database for the
workers.

`submit` retrieves each block's rule units as `run` does, before it plans the packs: a
pack groups blocks by their best unit, and the units a lane's packs share are chosen from
all of its first plan, so the retrieval of every block to send comes first. The submitter
keeps the result beside the queue: the guide's units (id, title, text, in reading order),
each block's ranked units, the whole guide for packs that fall back to it, and the shared
units its plan chose. A worker reads them and lays out each pack's context as `run` would
have (``context.RetrievedRules`` with ``shared`` set), so it needs no guide files, no index
and no embedding model, and embeds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from blockpass.context import BlockRules, RetrievedRules
from blockpass.store.postgres_schema import Connection

__all__ = ["StoredUnit", "load_retrieval", "save_retrieval"]


@dataclass(frozen=True, slots=True)
class StoredUnit:
    """A rule unit as a request carries it (``context.Unit``), read back from the database."""

    id: str
    title: str
    text: str


async def save_retrieval(
    connection: Connection, run: str, retrieved: RetrievedRules | None
) -> None:
    """Replace the run's retrieval (``None``: the run sends the whole guide); in the
    caller's transaction, with the submission it belongs to."""
    await connection.execute("DELETE FROM blockpass_retrievals WHERE run = %s", (run,))
    if retrieved is None:
        return
    await connection.execute(
        "INSERT INTO blockpass_retrievals (run, full_guide, shared) VALUES (%s, %s, %s)",
        (run, retrieved.full_guide, list(retrieved.shared or ())),
    )
    async with connection.cursor() as cursor:
        async with cursor.copy(
            "COPY blockpass_rule_units (run, position, unit_id, title, text) FROM STDIN"
        ) as copy:
            for position, unit in enumerate(retrieved.units):
                await copy.write_row((run, position, unit.id, unit.title, unit.text))
        async with cursor.copy(
            "COPY blockpass_block_rules (run, block_id, ranked, widened, unsure) FROM STDIN"
        ) as copy:
            for block_id, rules in retrieved.rules.items():
                await copy.write_row(
                    (run, block_id, list(rules.ranked), rules.widened, rules.unsure)
                )


async def load_retrieval(connection: Connection, run: str) -> RetrievedRules | None:
    """The run's retrieval as submitted; None for a run that sends the whole guide."""
    cursor = await connection.execute(
        "SELECT full_guide, shared FROM blockpass_retrievals WHERE run = %s", (run,)
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    full_guide, shared = row
    cursor = await connection.execute(
        "SELECT unit_id, title, text FROM blockpass_rule_units WHERE run = %s ORDER BY position",
        (run,),
    )
    units = [StoredUnit(unit_id, title, text) for unit_id, title, text in await cursor.fetchall()]
    cursor = await connection.execute(
        "SELECT block_id, ranked, widened, unsure FROM blockpass_block_rules WHERE run = %s",
        (run,),
    )
    rules = {
        block_id: BlockRules(tuple(ranked), widened=widened, unsure=unsure)
        for block_id, ranked, widened, unsure in await cursor.fetchall()
    }
    return RetrievedRules(units=units, rules=rules, full_guide=full_guide, shared=tuple(shared))
