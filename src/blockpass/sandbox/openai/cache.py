"""OpenAI's automatic prompt cache, in its two generations (``PROVIDERS.md``).

A prompt is a sequence of segments (tools, response format, then each message's content
parts), each tokenised on its own; a mark is a point of the prompt where an entry can be
read or written, keyed by the digest of the exact text up to it.

Models before GPT-5.6 (``blocks``): a mark every 128 tokens from 1,024 on. The cached prefix
is the longest previously seen prefix at one of them, so ``cached_tokens`` is 1,024 plus a
multiple of 128, and every request writes its own marks, at no charge (nothing is reported).
In-memory retention keeps an entry 5 minutes after its last use and at most an hour (the
documented range is "5 to 10 minutes of inactivity, up to one hour": the sandbox takes the
short end so that blockpass does not come to rely on the long one); ``prompt_cache_retention:
"24h"`` keeps it a day.

GPT-5.6 and later (``breakpoints``): marks only at breakpoints, not rounded to 128 tokens:
an implicit one at the end of the latest user or tool message (unless
``prompt_cache_options.mode`` is ``explicit``) and the explicit ``prompt_cache_breakpoint``
markers. A read matches a mark exactly (no shorter fallback) among the latest 80; a request
writes at most four marks (the implicit one and the latest three explicit, or the latest four
explicit); the written tokens, from the read point to the furthest write, are reported as
``cache_write_tokens``. Entries live 30 minutes (``12h`` on a marker that asks for it). The
implicit mark covers the changing end of the prompt, so a stable prefix followed by a new
pack is a miss unless an explicit marker sits at the end of the prefix (as public issue
reports about GPT-5.6 describe).

Both: nothing is cached below 1,024 tokens, without error; a read refreshes the entry and every
shorter mark of the same prompt (they are prefixes of it); an entry becomes readable only by
requests that arrive after the writing request's response began, as for Anthropic
(``sandbox/cache.py``), so parallel first requests all miss.

Why not ``sandbox/cache.py``: its TTLs are Anthropic's two (5m, 1h), it reads by looking back
20 positions from a breakpoint, and it writes only at breakpoints; neither OpenAI generation
works that way, and bending it would change the Anthropic emulation.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from blockpass.sandbox.cache import Commit, EntryTable
from blockpass.tokens import TokenizerFamily, count_tokens, truncate_to_tokens

MIN_CACHEABLE = 1_024
BLOCK_TOKENS = 128
LATEST_BREAKPOINTS = 80
MAX_WRITES = 4
IN_MEMORY_SECONDS = 300.0
IN_MEMORY_LIFETIME = 3_600.0
EXTENDED_SECONDS = 86_400.0
BREAKPOINT_TTLS = {"30m": 1_800.0, "12h": 43_200.0}
_SEPARATOR = b"\x1e"


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    text: str
    breakpoint_ttl: float | None = None
    implicit: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark:
    digest: bytes
    tokens: int
    ttl: float
    lifetime: float = math.inf
    writable: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePlan:
    prompt_tokens: int
    cached_tokens: int = 0
    write_tokens: int = 0
    refresh: tuple[Mark, ...] = ()
    writes: tuple[Mark, ...] = ()


@dataclass(slots=True)
class _Entry:
    expires_at: float
    ends_by: float
    visible_seq: int | None = None


def block_marks(
    seed: bytes,
    segments: Sequence[Segment],
    family: TokenizerFamily,
    *,
    ttl: float,
    lifetime: float,
) -> tuple[list[Mark], int]:
    """A mark every 128 tokens from 1,024, and the prompt's token count."""
    digest = hashlib.sha256(seed)
    marks: list[Mark] = []
    total = 0
    next_mark = MIN_CACHEABLE
    for segment in segments:
        text = segment.text
        digest.update(_SEPARATOR)
        tokens = count_tokens(text, family)
        position = consumed = 0
        while total + tokens - consumed >= next_mark:
            need = next_mark - total
            end = _offset_after(text, position, need, family)
            digest.update(text[position:end].encode())
            position, consumed, total = end, consumed + need, next_mark
            marks.append(
                Mark(digest=digest.copy().digest(), tokens=total, ttl=ttl, lifetime=lifetime)
            )
            next_mark += BLOCK_TOKENS
        digest.update(text[position:].encode())
        total += tokens - consumed
    return marks, total


def breakpoint_marks(
    seed: bytes, segments: Sequence[Segment], family: TokenizerFamily, *, implicit_ttl: float | None
) -> tuple[list[Mark], int]:
    """Marks at the breakpoints (``implicit_ttl`` None: no implicit one), and the token count."""
    digest = hashlib.sha256(seed)
    found: list[tuple[Mark, bool]] = []
    total = 0
    for segment in segments:
        digest.update(_SEPARATOR)
        digest.update(segment.text.encode())
        total += count_tokens(segment.text, family)
        ttls = [segment.breakpoint_ttl]
        if segment.implicit:
            ttls.append(implicit_ttl)
        ttl = max((value for value in ttls if value is not None), default=None)
        if ttl is not None and total >= MIN_CACHEABLE:
            mark = Mark(digest=digest.copy().digest(), tokens=total, ttl=ttl)
            found.append((mark, segment.breakpoint_ttl is not None))
    found = found[-LATEST_BREAKPOINTS:]
    # The implicit mark takes one of the four writes when there is one.
    explicit_writes = MAX_WRITES - (1 if implicit_ttl is not None else 0)
    explicit = [index for index, (_, is_explicit) in enumerate(found) if is_explicit]
    chosen = set(explicit[-explicit_writes:]) if explicit_writes else set()
    marks = [
        Mark(digest=mark.digest, tokens=mark.tokens, ttl=mark.ttl, writable=index in chosen)
        if is_explicit
        else mark
        for index, (mark, is_explicit) in enumerate(found)
    ]
    return marks, total


def _offset_after(text: str, start: int, need: int, family: TokenizerFamily) -> int:
    """Where ``need`` tokens counted from ``start`` end (the caller knows there are that many).

    Tokenising a window rather than the rest of the text keeps a long segment linear: the
    first ``need`` pieces of a window are the text's own once the window holds one more.
    """
    size = need * 8 + 64
    while True:
        end = min(len(text), start + size)
        prefix = truncate_to_tokens(text[start:end], need, family)
        if end == len(text) or start + len(prefix) < end:
            return start + len(prefix)
        size *= 2


@dataclass(slots=True)
class OpenAIPromptCache(EntryTable[_Entry]):
    def plan(
        self,
        marks: Sequence[Mark],
        *,
        prompt_tokens: int,
        arrival_seq: int,
        now: float,
        allow_read: bool = True,
    ) -> CachePlan:
        read_at = -1
        if allow_read:
            read_at = next(
                (
                    index
                    for index in range(len(marks) - 1, -1, -1)
                    if self._readable(marks[index].digest, arrival_seq, now) is not None
                ),
                -1,
            )
        cached = marks[read_at].tokens if read_at >= 0 else 0
        writes = tuple(mark for mark in marks[read_at + 1 :] if mark.writable)
        return CachePlan(
            prompt_tokens=prompt_tokens,
            cached_tokens=cached,
            write_tokens=max((mark.tokens for mark in writes), default=cached) - cached,
            refresh=tuple(marks[: read_at + 1]),
            writes=writes,
        )

    def commit(self, plan: CachePlan, *, now: float) -> Commit:
        for mark in plan.refresh:
            entry = self._entries.get(mark.digest)
            if entry is not None and entry.expires_at > now:
                entry.expires_at = min(entry.ends_by, max(entry.expires_at, now + mark.ttl))
        for mark in plan.writes:
            entry = self._entries.get(mark.digest)
            if entry is not None and entry.expires_at > now:
                entry.expires_at = min(entry.ends_by, max(entry.expires_at, now + mark.ttl))
            else:
                self._entries[mark.digest] = _Entry(
                    expires_at=now + mark.ttl, ends_by=now + max(mark.ttl, mark.lifetime)
                )
        self._committed(now)
        return Commit(digests=tuple(mark.digest for mark in plan.writes))
