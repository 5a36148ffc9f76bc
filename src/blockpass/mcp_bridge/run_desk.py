"""A run's pending blocks handed to outside agents, and their results taken back.

What ``blockpass mcp serve`` offers other agents over a run directory (``server.py`` puts
MCP on it): ``batch`` leases the next pending blocks, packed under a token budget with short
ids (``b1``, ``b2``...); ``submit`` takes results for a batch and treats them exactly like a
model's answer (``results.parse_answer``: salvage, unknown and duplicate ids counted, edits
whose ``find`` is not in the block rejected), then stores them so a later ``blockpass run``
sees those blocks as done and its report counts them (results no paid call produced).

Leases are the store's, one per block (``execution/block_leases.py``, as a run takes them
for the packs it sends), so two clients, in this process or in another server on the same
run, and the run itself, never get the same block while its lease runs; a lease that expires
gives its blocks to the next batch. The batch lives in the store, not in the server: its
blocks' leases are held by the batch (worker ``batch:{id}``) and one more lease on the
batch itself (``LeaseKind.HANDOUT``) says how many blocks it has, so a batch is submitted
through any server on the run, restarted or not, while all its leases last. A batch id is
unguessable and good for one submission; anything else is a ``DeskError`` saying what is
wrong.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from blockpass.blocks import BY_AGENT, Block, BlockResult
from blockpass.execution.block_leases import BlockLeases, still_to_do
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

    def __init__(self, store: RunStore, *, lease_seconds: float) -> None:
        self._store = store
        self._lease_seconds = lease_seconds

    async def pending(self) -> list[Block]:
        """Blocks without a result (or with a failure, or a result for other text)."""
        results = await self._store.results()
        return [block for block in await self._store.blocks() if still_to_do(block, results)]

    async def batch(self, *, budget_tokens: int | None, max_blocks: int | None) -> Batch | None:
        """The next pending blocks nobody holds, leased, up to ``max_blocks`` and
        ``budget_tokens`` of block text; None when no block is left to hand out."""
        if budget_tokens is None and max_blocks is None:
            raise DeskError("give budget_tokens, max_blocks or both")
        if budget_tokens is not None and budget_tokens < 1:
            raise DeskError(f"budget_tokens must be at least 1, not {budget_tokens}")
        if max_blocks is not None and not 1 <= max_blocks <= MAX_BATCH_BLOCKS:
            raise DeskError(f"max_blocks must be from 1 to {MAX_BATCH_BLOCKS}, not {max_blocks}")
        batch_id = secrets.token_urlsafe(16)
        leases = BlockLeases(self._store, worker=_holder(batch_id), seconds=self._lease_seconds)
        pending = await self.pending()
        held = {block.id for block in await leases.held_elsewhere(pending)}
        chosen = _within(
            [block for block in pending if block.id not in held],
            budget_tokens=budget_tokens,
            limit=max_blocks or MAX_BATCH_BLOCKS,
        )
        # Another worker may take some of them first: the batch is what this one got.
        blocks = (await leases.claim(chosen)).leased
        if not blocks:
            return None
        # The batch itself, beside its blocks' leases: a server restarted, or another one on
        # the same run, finds it by its id and knows whether all of its blocks are still held.
        handout = await self._store.claim(
            LeaseKind.HANDOUT,
            [f"{batch_id}/{len(blocks)}"],
            worker=leases.worker,
            seconds=self._lease_seconds,
        )
        if handout is None:
            raise RuntimeError(f"batch id {batch_id} drawn twice")
        return Batch(
            id=batch_id,
            blocks=_short_ids(blocks),
            leases=tuple(leases.held.values()),
            tokens=sum(count_tokens(block.text) for block in blocks),
        )

    async def submit(self, batch_id: str, results: Sequence[Any]) -> Submitted:
        """Store a batch's results as a model's answer would be, and give its blocks up."""
        holder = _holder(batch_id)
        handouts = [
            lease for lease in await self._store.leases(LeaseKind.HANDOUT) if lease.worker == holder
        ]
        if not handouts:
            raise DeskError(
                f"unknown batch id {batch_id!r}: it was never handed out, was submitted"
                " already, or expired and its blocks went back to the run; get_block_batch"
                " gives a new one"
            )
        (handout,) = handouts
        leases = [
            lease for lease in await self._store.leases(LeaseKind.BLOCK) if lease.worker == holder
        ]
        # Given up first: a batch is submitted once.
        await self._store.release(handout)
        leased = {lease.key for lease in leases}
        if len(leased) != int(handout.key.rsplit("/", 1)[1]):
            for lease in leases:
                await self._store.release(lease)
            raise DeskError(
                f"batch {batch_id!r} expired and some of its blocks went back to the run: get a"
                " new batch"
            )
        blocks = _short_ids([block for block in await self._store.blocks() if block.id in leased])
        parsed = parse_answer(json.dumps({"results": list(results)}), blocks)
        stored = [_from_outside(result) for result in parsed.results.values()]
        if stored:
            await self._store.record_results(stored)
        for lease in leases:
            await self._store.release(lease)
        short = {block.id: short_id for short_id, block in blocks.items()}
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


def _holder(batch_id: str) -> str:
    """The worker a batch's leases are held by: the batch itself."""
    return f"batch:{batch_id}"


def _within(blocks: Sequence[Block], *, budget_tokens: int | None, limit: int) -> list[Block]:
    chosen: list[Block] = []
    tokens = 0
    for block in blocks[:limit]:
        size = count_tokens(block.text)
        if budget_tokens is not None and tokens + size > budget_tokens:
            if not chosen:
                raise DeskError(
                    f"the next block alone is {size} tokens: give budget_tokens of at least {size}"
                )
            break
        chosen.append(block)
        tokens += size
    return chosen


def _short_ids(blocks: Sequence[Block]) -> dict[str, Block]:
    """Short ids in the run's block order, the same whenever the batch's blocks are read."""
    return {f"b{number}": block for number, block in enumerate(blocks, start=1)}


def _from_outside(result: BlockResult) -> BlockResult:
    """A result no paid call produced: recorded without a call, and said to be an agent's."""
    return replace(result, call_id=None, reason=BY_AGENT, lane="mcp")
