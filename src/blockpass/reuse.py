"""Which blocks a job sends, and which take a result it already has or is about to get.

One pure function for ``run`` and ``estimate`` (``plan_reuse``), so the estimate's "+ reuse"
row counts the blocks the run will send: a block whose text already has a result for this
task takes it; of the blocks left, the first with each text is sent and the later ones (its
copies) take its result once it comes back. ``run`` applies the plan to its store, one lane
at a time: "this task" is the lane's fingerprint, so one model's answer never ends a block
routed to another.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from blockpass.blocks import REUSED, Block, BlockResult, Outcome
from blockpass.store import RunStore

__all__ = ["ReusePlan", "copy_to_duplicates", "plan_reuse", "reuse_stored_results", "unfinished"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReusePlan:
    reused: tuple[Block, ...]
    """Blocks whose text has an earlier result for the same task."""
    to_send: tuple[Block, ...]
    """The first block of each other text, in input order."""
    copies: tuple[Block, ...]
    """Later blocks with a text in ``to_send``: they take that block's result afterwards."""


def plan_reuse(blocks: Iterable[Block], answered: Container[str] = frozenset()) -> ReusePlan:
    """``answered``: the content hashes that already have a result for this task."""
    reused: list[Block] = []
    to_send: list[Block] = []
    copies: list[Block] = []
    sent: set[str] = set()
    for block in blocks:
        if block.content_hash in answered:
            reused.append(block)
        elif block.content_hash in sent:
            copies.append(block)
        else:
            sent.add(block.content_hash)
            to_send.append(block)
    return ReusePlan(reused=tuple(reused), to_send=tuple(to_send), copies=tuple(copies))


async def reuse_stored_results(
    store: RunStore, blocks: list[Block], fingerprint: str
) -> tuple[list[Block], list[Block]]:
    """Record earlier results for the same text and task; send each remaining text once.

    Returns the blocks to send and the blocks whose text is being sent for another block:
    those take that block's result afterwards.
    """
    earlier = await store.lookup_previous_results(
        {block.content_hash for block in blocks}, fingerprint
    )
    plan = plan_reuse(blocks, earlier)
    await store.record_results(
        [reused_for(earlier[block.content_hash], block) for block in plan.reused]
    )
    return list(plan.to_send), list(plan.copies)


async def copy_to_duplicates(store: RunStore, copies: list[Block], fingerprint: str) -> None:
    if not copies:
        return
    found = await store.lookup_previous_results(
        {block.content_hash for block in copies}, fingerprint
    )
    await store.record_results(
        [
            reused_for(found[block.content_hash], block)
            if block.content_hash in found
            else BlockResult(
                block_id=block.id,
                content_hash=block.content_hash,
                outcome=Outcome.FAILED,
                reason="the same text failed in another block",
            )
            for block in copies
        ]
    )


def unfinished(blocks: Sequence[Block], stored: Mapping[str, BlockResult]) -> list[Block]:
    """The blocks a run still has to do: a stored result ends a block only while the block
    still has the text it was made for, and a failure is tried again."""
    return [
        block
        for block in blocks
        if (result := stored.get(block.id)) is None
        or result.outcome is Outcome.FAILED
        or result.content_hash != block.content_hash
    ]


def reused_for(source: BlockResult, block: Block) -> BlockResult:
    return replace(source, block_id=block.id, call_id=None, reason=REUSED)
