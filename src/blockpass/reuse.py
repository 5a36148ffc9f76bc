"""Which blocks a job sends, and which take a result it already has or is about to get.

One pure function for ``run`` and ``estimate``, so the estimate's "+ reuse" row counts the
blocks the run will send: a block whose text already has a result for this task takes it;
of the blocks left, the first with each text is sent and the later ones (its copies) take
its result once it comes back.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass

from blockpass.blocks import Block

__all__ = ["ReusePlan", "plan_reuse"]


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
