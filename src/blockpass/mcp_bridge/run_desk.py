"""A run's pending blocks handed to outside agents, and their results taken back.

What ``blockpass mcp serve`` offers other agents over a run directory (``server.py`` puts
MCP on it): ``batch`` leases the next pending blocks, packed under a token budget with short
ids (``b1``, ``b2``...); ``submit`` takes results for a batch and treats them exactly like a
model's answer (``results.parse_answer``: salvage, unknown and duplicate ids counted, edits
whose ``find`` is not in the block rejected), then stores them so a later ``blockpass run``
sees those blocks as done and its report counts them (results no paid call produced).

Leases are the store's (``RunStore.claim``), one per block, so two clients, in this process
or in another server on the same run, never get the same block while its lease runs; a lease
that expires gives its blocks to the next batch. A batch id is unguessable and good for one
submission, while its leases last; anything else is a ``DeskError`` saying what is wrong.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from blockpass.blocks import BY_AGENT, Block, BlockResult, Outcome
from blockpass.results import parse_answer
from blockpass.store import Lease, LeaseKind, RunStore
from blockpass.tokens import count_tokens

__all__ = ["Batch", "DeskError", "RunDesk", "Submitted"]

MAX_BATCH_BLOCKS = 200


class DeskError(ValueError):
    """A request an agent got wrong: its message is the tool error it reads."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    id: str
    blocks: Mapping[str, Block]  # by short id, in pack order
    leases: tuple[Lease, ...]
    tokens: int

    @property
    def expires_at(self) -> float:
        return min(lease.expires_at for lease in self.leases)


@dataclass(frozen=True, slots=True, kw_only=True)
class Submitted:
    stored: tuple[str, ...]  # short ids whose results were stored
    missing: tuple[str, ...]  # short ids without a valid result: back to pending
    unknown_ids: int
    duplicate_ids: int
    invalid_items: int
    rejected_edits: int


class RunDesk:
    """On a store bound to its run (``RunStore.join_run``)."""

    def __init__(self, store: RunStore, *, worker: str, lease_seconds: float) -> None:
        self._store = store
        self._worker = worker
        self._lease_seconds = lease_seconds
        self._open: dict[str, Batch] = {}

    async def pending(self) -> list[Block]:
        """Blocks without a result (or with a failure, or a result for other text)."""
        results = await self._store.results()
        return [
            block
            for block in await self._store.blocks()
            if (result := results.get(block.id)) is None
            or result.outcome is Outcome.FAILED
            or result.content_hash != block.content_hash
        ]

    async def batch(self, *, budget_tokens: int | None, max_blocks: int | None) -> Batch | None:
        """The next pending blocks nobody holds, leased, up to ``max_blocks`` and
        ``budget_tokens`` of block text; None when no block is left to hand out."""
        if budget_tokens is None and max_blocks is None:
            raise DeskError("give budget_tokens, max_blocks or both")
        if budget_tokens is not None and budget_tokens < 1:
            raise DeskError(f"budget_tokens must be at least 1, not {budget_tokens}")
        if max_blocks is not None and not 1 <= max_blocks <= MAX_BATCH_BLOCKS:
            raise DeskError(f"max_blocks must be from 1 to {MAX_BATCH_BLOCKS}, not {max_blocks}")
        limit = max_blocks or MAX_BATCH_BLOCKS
        candidates = await self.pending()
        leases: list[Lease] = []
        blocks: list[Block] = []
        tokens = 0
        by_id = {block.id: block for block in candidates}
        keys = list(by_id)
        while keys and len(blocks) < limit:
            lease = await self._store.claim(
                LeaseKind.PACK, keys, worker=self._worker, seconds=self._lease_seconds
            )
            if lease is None:
                break
            keys = keys[keys.index(lease.key) + 1 :]
            size = count_tokens(by_id[lease.key].text)
            if budget_tokens is not None and tokens + size > budget_tokens:
                await self._store.release(lease)
                if not blocks:
                    raise DeskError(
                        f"the next block alone is {size} tokens: give budget_tokens of at"
                        f" least {size}"
                    )
                break
            leases.append(lease)
            blocks.append(by_id[lease.key])
            tokens += size
        if not blocks:
            return None
        batch = Batch(
            id=secrets.token_urlsafe(16),
            blocks={f"b{number}": block for number, block in enumerate(blocks, start=1)},
            leases=tuple(leases),
            tokens=tokens,
        )
        self._open[batch.id] = batch
        return batch

    async def submit(self, batch_id: str, results: Sequence[Any]) -> Submitted:
        """Store a batch's results as a model's answer would be, and give its blocks up."""
        batch = self._open.get(batch_id)
        if batch is None:
            raise DeskError(
                f"unknown batch id {batch_id!r}: it was never handed out by this server or was"
                " submitted already; get_block_batch gives a new one"
            )
        held = {lease.id for lease in await self._store.leases(LeaseKind.PACK)}
        if any(lease.id not in held for lease in batch.leases):
            del self._open[batch_id]
            raise DeskError(
                f"batch {batch_id!r} expired and its blocks went back to the run: get a new batch"
            )
        del self._open[batch_id]
        parsed = parse_answer(json.dumps({"results": list(results)}), batch.blocks)
        stored = [_from_outside(result) for result in parsed.results.values()]
        if stored:
            await self._store.record_results(stored)
        for lease in batch.leases:
            await self._store.release(lease)
        short = {block.id: short_id for short_id, block in batch.blocks.items()}
        return Submitted(
            stored=tuple(short[result.block_id] for result in stored),
            missing=tuple(short[block.id] for block in parsed.missing),
            unknown_ids=parsed.unknown_ids,
            duplicate_ids=parsed.duplicate_ids,
            invalid_items=parsed.invalid_items,
            rejected_edits=parsed.rejected_edits,
        )

    async def previous(
        self, *, content_hash: str | None, block_id: str | None
    ) -> list[BlockResult]:
        """Stored results for a block, or for every block with that text."""
        if (content_hash is None) == (block_id is None):
            raise DeskError("give exactly one of content_hash and block_id")
        results = await self._store.results()
        if block_id is not None:
            found = results.get(block_id)
            return [] if found is None else [found]
        return [result for result in results.values() if result.content_hash == content_hash]


def _from_outside(result: BlockResult) -> BlockResult:
    """A result no paid call produced: recorded without a call, and said to be an agent's."""
    return replace(result, call_id=None, reason=BY_AGENT, lane="mcp")
