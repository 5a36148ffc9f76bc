"""The prompt cache, as the Anthropic documentation describes it (see ``PROVIDERS.md``).

A request's cacheable content is a sequence of positions (tools, then system blocks, then
message content blocks). Each position has a digest of the exact bytes of the prefix up to
and including it, and some positions carry a breakpoint with a TTL.

- An entry is written only at a breakpoint, keyed by that prefix digest, and only when the
  prefix reaches the model's minimum cacheable length (below it: no write, no read, no error).
- A read looks back at most 20 positions from each breakpoint for a live entry; the longest
  prefix found wins.
- Tokens between the read point and each written breakpoint are billed as cache writes at
  that breakpoint's TTL; tokens after the last cached position are plain input.
- The TTL counts from the start of the request; a read refreshes it.
- An entry becomes readable only by requests that arrive after the writing request's response
  began, so concurrent first requests all miss and all write. Arrival and response start are
  ordered by one sequence counter rather than by the clock, so the rule holds even on a clock
  that tests hold still.

Planning is separate from committing: a request refused by the rate limiter must leave the
cache as it found it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

LOOKBACK_POSITIONS = 20
_SWEEP_EVERY = 4096


class Ttl(StrEnum):
    FIVE_MINUTES = "5m"
    ONE_HOUR = "1h"

    @property
    def seconds(self) -> float:
        return 300.0 if self is Ttl.FIVE_MINUTES else 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    digest: bytes
    cumulative_tokens: int
    breakpoint: Ttl | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePlan:
    uncached_input_tokens: int
    read_tokens: int = 0
    write_5m_tokens: int = 0
    write_1h_tokens: int = 0
    read_digest: bytes | None = None
    read_ttl: Ttl | None = None
    writes: tuple[tuple[bytes, Ttl], ...] = ()

    @property
    def write_tokens(self) -> int:
        return self.write_5m_tokens + self.write_1h_tokens


@dataclass(slots=True)
class _Entry:
    expires_at: float
    ttl: Ttl
    visible_seq: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    """What one request wrote, to be published when its response begins."""

    digests: tuple[bytes, ...]


class _Visible(Protocol):
    expires_at: float
    visible_seq: int | None


EntryT = TypeVar("EntryT", bound=_Visible)


@dataclass(slots=True)
class EntryTable(Generic[EntryT]):
    """Entries keyed by prefix digest, readable only once their writer's response began.

    The rule every vendor's cache shares: an entry is live until ``expires_at``, and a request
    sees it only if the entry was published (its writer's response began) before the request
    arrived. Expired entries are swept every few thousand commits to bound memory.
    """

    _entries: dict[bytes, EntryT] = field(default_factory=dict)
    _seq: int = 0
    _commits_since_sweep: int = 0

    def arrive(self) -> int:
        """A sequence number for a request that has just arrived."""
        self._seq += 1
        return self._seq

    def __len__(self) -> int:
        return len(self._entries)

    def _readable(self, digest: bytes, arrival_seq: int, now: float) -> EntryT | None:
        entry = self._entries.get(digest)
        if (
            entry is not None
            and entry.expires_at > now
            and entry.visible_seq is not None
            and entry.visible_seq < arrival_seq
        ):
            return entry
        return None

    def _committed(self, now: float) -> None:
        self._commits_since_sweep += 1
        if self._commits_since_sweep >= _SWEEP_EVERY:
            self._commits_since_sweep = 0
            expired = [digest for digest, entry in self._entries.items() if entry.expires_at <= now]
            for digest in expired:
                del self._entries[digest]

    def publish(self, commit: Commit) -> None:
        """The writing request's response has begun: its entries become readable."""
        if not commit.digests:
            return
        self._seq += 1
        for digest in commit.digests:
            entry = self._entries.get(digest)
            if entry is not None and entry.visible_seq is None:
                entry.visible_seq = self._seq


@dataclass(slots=True)
class PromptCache(EntryTable[_Entry]):
    def plan(
        self,
        positions: list[Position],
        *,
        total_tokens: int,
        min_cacheable: int,
        arrival_seq: int,
        started_at: float,
        allow_read: bool = True,
    ) -> CachePlan:
        breakpoints = [
            index
            for index, position in enumerate(positions)
            if position.breakpoint is not None and position.cumulative_tokens >= min_cacheable
        ]
        read_at = -1
        if allow_read:
            read_at = self._longest_hit(positions, breakpoints, arrival_seq, started_at)

        cached_through = read_at
        writes: list[tuple[bytes, Ttl]] = []
        tokens_by_ttl = {Ttl.FIVE_MINUTES: 0, Ttl.ONE_HOUR: 0}
        for index in breakpoints:
            if index <= read_at:
                continue
            ttl = positions[index].breakpoint
            assert ttl is not None
            tokens_by_ttl[ttl] += positions[index].cumulative_tokens - _tokens_through(
                positions, cached_through
            )
            writes.append((positions[index].digest, ttl))
            cached_through = index

        read_entry = self._entries.get(positions[read_at].digest) if read_at >= 0 else None
        return CachePlan(
            uncached_input_tokens=total_tokens - _tokens_through(positions, cached_through),
            read_tokens=_tokens_through(positions, read_at),
            write_5m_tokens=tokens_by_ttl[Ttl.FIVE_MINUTES],
            write_1h_tokens=tokens_by_ttl[Ttl.ONE_HOUR],
            read_digest=positions[read_at].digest if read_at >= 0 else None,
            read_ttl=read_entry.ttl if read_entry else None,
            writes=tuple(writes),
        )

    def _longest_hit(
        self, positions: list[Position], breakpoints: list[int], arrival_seq: int, now: float
    ) -> int:
        best = -1
        for index in reversed(breakpoints):
            if index <= best:
                break
            floor = max(best + 1, index - LOOKBACK_POSITIONS + 1)
            for candidate in range(index, floor - 1, -1):
                if self._readable(positions[candidate].digest, arrival_seq, now):
                    best = candidate
                    break
        return best

    def commit(self, plan: CachePlan, *, started_at: float) -> Commit:
        if plan.read_digest is not None:
            entry = self._entries[plan.read_digest]
            entry.expires_at = max(entry.expires_at, started_at + entry.ttl.seconds)
        for digest, ttl in plan.writes:
            existing = self._entries.get(digest)
            if existing is not None and existing.expires_at > started_at:
                existing.expires_at = max(existing.expires_at, started_at + ttl.seconds)
            else:
                self._entries[digest] = _Entry(expires_at=started_at + ttl.seconds, ttl=ttl)
        self._committed(started_at)
        return Commit(digests=tuple(digest for digest, _ in plan.writes))


def _tokens_through(positions: list[Position], index: int) -> int:
    return positions[index].cumulative_tokens if index >= 0 else 0
