"""What workers share in the PostgreSQL store: leases on work, and what each lane has learned.

Each function runs in one transaction of the store (`postgres.py`). A claim is one
`INSERT ... ON CONFLICT` per candidate key, each its own transaction: PostgreSQL makes the
insert-or-take-over of one key atomic between any number of connections, and a claimer
never holds one key's row while it waits for another's, so claims cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from blockpass.store.base import Lease, LeaseKind
from blockpass.store.postgres_schema import Connection

__all__ = [
    "held_keys",
    "leases",
    "limit_pack_sizes",
    "output_estimates",
    "pack_sizes",
    "release",
    "renew",
    "save_output_estimates",
    "take_key",
    "take_keys",
]


# An expired lease gives way in place, under a new id: the sequence of `id` never repeats,
# so the worker that lost it cannot renew or release its successor.
_TAKE_KEY = """INSERT INTO leases (kind, key, worker, expires_at) VALUES (%s, %s, %s, %s)
    ON CONFLICT (kind, key) DO UPDATE
        SET id = nextval(pg_get_serial_sequence('leases', 'id')),
            worker = excluded.worker, expires_at = excluded.expires_at
        WHERE leases.expires_at <= %s
    RETURNING id"""


async def held_keys(connection: Connection, kind: LeaseKind, *, now: float) -> set[str]:
    # Live leases are few (workers times their concurrency), whatever the number of keys.
    rows = await connection.execute(
        "SELECT key FROM leases WHERE kind = %s AND expires_at > %s", (kind.value, now)
    )
    return {key for (key,) in await rows.fetchall()}


async def take_key(
    connection: Connection, kind: LeaseKind, key: str, *, worker: str, now: float, seconds: float
) -> Lease | None:
    """Lease `key` unless a live lease holds it (another claimer may have just taken it)."""
    taken = await connection.execute(_TAKE_KEY, (kind.value, key, worker, now + seconds, now))
    row = await taken.fetchone()
    if row is None:
        return None
    return Lease(id=row[0], kind=kind, key=key, worker=worker, expires_at=now + seconds)


# Many keys in one statement, in key order: two claimers of overlapping keys lock their rows
# in the same order, and every other writer of leases locks one row, so none deadlock.
_TAKE_KEYS = """INSERT INTO leases (kind, key, worker, expires_at)
    SELECT %s, key, %s, %s FROM unnest(%s::text[]) AS key ORDER BY key
    ON CONFLICT (kind, key) DO UPDATE
        SET id = nextval(pg_get_serial_sequence('leases', 'id')),
            worker = excluded.worker, expires_at = excluded.expires_at
        WHERE leases.expires_at <= %s
    RETURNING id, key"""


async def take_keys(
    connection: Connection,
    kind: LeaseKind,
    keys: Sequence[str],
    *,
    worker: str,
    now: float,
    seconds: float,
) -> list[Lease]:
    """Lease each of `keys` that no live lease holds, in one round trip; in `keys`' order."""
    wanted = list(dict.fromkeys(keys))
    taken = await connection.execute(_TAKE_KEYS, (kind.value, worker, now + seconds, wanted, now))
    ids = {key: lease_id for lease_id, key in await taken.fetchall()}
    return [
        Lease(id=ids[key], kind=kind, key=key, worker=worker, expires_at=now + seconds)
        for key in wanted
        if key in ids
    ]


async def renew(connection: Connection, lease: Lease, *, now: float, seconds: float) -> bool:
    updated = await connection.execute(
        "UPDATE leases SET expires_at = %s WHERE id = %s", (now + seconds, lease.id)
    )
    return bool(updated.rowcount)


async def release(connection: Connection, leases: Sequence[Lease]) -> None:
    # Rows locked in key order, as claims lock them.
    await connection.execute(
        "DELETE FROM leases WHERE id IN"
        " (SELECT id FROM leases WHERE id = ANY(%s) ORDER BY key FOR UPDATE)",
        ([lease.id for lease in leases],),
    )


async def leases(connection: Connection, kind: LeaseKind, *, now: float) -> list[Lease]:
    rows = await connection.execute(
        "SELECT id, kind, key, worker, expires_at FROM leases"
        " WHERE kind = %s AND expires_at > %s ORDER BY id",
        (kind.value, now),
    )
    return [
        Lease(id=lease_id, kind=LeaseKind(stored), key=key, worker=worker, expires_at=expires)
        for lease_id, stored, key, worker, expires in await rows.fetchall()
    ]


async def limit_pack_sizes(connection: Connection, lane: str, sizes: Mapping[str, int]) -> None:
    async with connection.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO lane_pack_sizes (lane, block_id, max_blocks) VALUES (%s, %s, %s)"
            " ON CONFLICT (lane, block_id) DO UPDATE"
            " SET max_blocks = LEAST(lane_pack_sizes.max_blocks, excluded.max_blocks)",
            # In one order in every writer, so that two workers' upserts never deadlock.
            [(lane, block_id, size) for block_id, size in sorted(sizes.items())],
        )


async def pack_sizes(connection: Connection, lane: str) -> dict[str, int]:
    rows = await connection.execute(
        "SELECT block_id, max_blocks FROM lane_pack_sizes WHERE lane = %s", (lane,)
    )
    return {block_id: size for block_id, size in await rows.fetchall()}


async def save_output_estimates(
    connection: Connection, lane: str, tokens_by_kind: Mapping[str, float]
) -> None:
    async with connection.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO lane_output_estimates (lane, kind, tokens) VALUES (%s, %s, %s)"
            " ON CONFLICT (lane, kind) DO UPDATE SET tokens = excluded.tokens",
            [(lane, kind, tokens) for kind, tokens in sorted(tokens_by_kind.items())],
        )


async def output_estimates(connection: Connection, lane: str) -> dict[str, float]:
    rows = await connection.execute(
        "SELECT kind, tokens FROM lane_output_estimates WHERE lane = %s", (lane,)
    )
    return {kind: tokens for kind, tokens in await rows.fetchall()}
