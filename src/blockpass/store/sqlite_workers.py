"""What workers share in the SQLite store: leases on work, and what each lane has learned.

Every function runs inside the store's transaction on its one connection (`sqlite.py`);
writes are `BEGIN IMMEDIATE`, so two handles on the same file, in one process or two,
take turns and a claim reads and writes the leases as one step.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from blockpass.store.base import Lease, LeaseKind

__all__ = [
    "WORKER_SCHEMA",
    "claim",
    "leases",
    "limit_pack_sizes",
    "output_estimates",
    "pack_sizes",
    "release",
    "renew",
    "save_output_estimates",
]

# Version 4: leases and lane state. A version-3 file gains these tables when it is opened.
WORKER_SCHEMA = (
    # AUTOINCREMENT: a taken-over lease's id is never handed out again.
    """CREATE TABLE leases (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL, key TEXT NOT NULL, worker TEXT NOT NULL,
        expires_at REAL NOT NULL,
        UNIQUE (kind, key))""",
    """CREATE TABLE lane_pack_sizes (
        lane TEXT NOT NULL, block_id TEXT NOT NULL REFERENCES blocks (id),
        max_blocks INTEGER NOT NULL CHECK (max_blocks >= 1),
        PRIMARY KEY (lane, block_id))""",
    """CREATE TABLE lane_output_estimates (
        lane TEXT NOT NULL, kind TEXT NOT NULL, tokens REAL NOT NULL,
        PRIMARY KEY (lane, kind))""",
)
_LEASE_COLUMNS = "id, kind, key, worker, expires_at"


def claim(
    connection: sqlite3.Connection,
    kind: LeaseKind,
    keys: Sequence[str],
    *,
    worker: str,
    now: float,
    seconds: float,
) -> Lease | None:
    free = _free_keys(connection, kind, keys, now=now)
    if not free:
        return None
    return _take(connection, kind, free[0], worker=worker, expires_at=now + seconds)


def claim_each(
    connection: sqlite3.Connection,
    kind: LeaseKind,
    keys: Sequence[str],
    *,
    worker: str,
    now: float,
    seconds: float,
) -> list[Lease]:
    free = _free_keys(connection, kind, keys, now=now)
    return [_take(connection, kind, key, worker=worker, expires_at=now + seconds) for key in free]


def _free_keys(
    connection: sqlite3.Connection, kind: LeaseKind, keys: Sequence[str], *, now: float
) -> list[str]:
    """``keys`` that no live lease holds, once each, in order."""
    held = _held_keys(connection, kind, now=now)
    return [key for key in dict.fromkeys(keys) if key not in held]


def _held_keys(connection: sqlite3.Connection, kind: LeaseKind, *, now: float) -> set[str]:
    # Live leases are few (workers times their concurrency and pack size), whatever the
    # number of keys.
    rows = connection.execute(
        "SELECT key FROM leases WHERE kind = ? AND expires_at > ?", (kind.value, now)
    )
    return {key for (key,) in rows}


def _take(
    connection: sqlite3.Connection, kind: LeaseKind, key: str, *, worker: str, expires_at: float
) -> Lease:
    # An expired lease on the key gives way to a new row, and so to a new id.
    connection.execute("DELETE FROM leases WHERE kind = ? AND key = ?", (kind.value, key))
    lease_id = connection.execute(
        "INSERT INTO leases (kind, key, worker, expires_at) VALUES (?, ?, ?, ?)",
        (kind.value, key, worker, expires_at),
    ).lastrowid
    assert lease_id is not None
    return Lease(id=lease_id, kind=kind, key=key, worker=worker, expires_at=expires_at)


def renew(connection: sqlite3.Connection, lease: Lease, *, now: float, seconds: float) -> bool:
    updated = connection.execute(
        "UPDATE leases SET expires_at = ? WHERE id = ?", (now + seconds, lease.id)
    ).rowcount
    return bool(updated)


def release(connection: sqlite3.Connection, leases: Sequence[Lease]) -> None:
    connection.executemany("DELETE FROM leases WHERE id = ?", [(lease.id,) for lease in leases])


def leases(connection: sqlite3.Connection, kind: LeaseKind, *, now: float) -> list[Lease]:
    rows = connection.execute(
        f"SELECT {_LEASE_COLUMNS} FROM leases WHERE kind = ? AND expires_at > ? ORDER BY id",
        (kind.value, now),
    )
    return [
        Lease(id=lease_id, kind=LeaseKind(stored), key=key, worker=worker, expires_at=expires)
        for lease_id, stored, key, worker, expires in rows
    ]


def limit_pack_sizes(connection: sqlite3.Connection, lane: str, sizes: Mapping[str, int]) -> None:
    connection.executemany(
        "INSERT INTO lane_pack_sizes (lane, block_id, max_blocks) VALUES (?, ?, ?)"
        " ON CONFLICT (lane, block_id) DO UPDATE"
        " SET max_blocks = MIN(max_blocks, excluded.max_blocks)",
        [(lane, block_id, size) for block_id, size in sizes.items()],
    )


def pack_sizes(connection: sqlite3.Connection, lane: str) -> dict[str, int]:
    rows = connection.execute(
        "SELECT block_id, max_blocks FROM lane_pack_sizes WHERE lane = ?", (lane,)
    )
    return dict(rows.fetchall())


def save_output_estimates(
    connection: sqlite3.Connection, lane: str, tokens_by_kind: Mapping[str, float]
) -> None:
    connection.executemany(
        "INSERT INTO lane_output_estimates (lane, kind, tokens) VALUES (?, ?, ?)"
        " ON CONFLICT (lane, kind) DO UPDATE SET tokens = excluded.tokens",
        [(lane, kind, tokens) for kind, tokens in tokens_by_kind.items()],
    )


def output_estimates(connection: sqlite3.Connection, lane: str) -> dict[str, float]:
    rows = connection.execute(
        "SELECT kind, tokens FROM lane_output_estimates WHERE lane = ?", (lane,)
    )
    return dict(rows.fetchall())
