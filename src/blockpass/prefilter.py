"""Which blocks need no model at all, and why. Every skip records its reason.

Defaults are what a documentation team expects: code, tables, raw HTML, images, thematic
breaks and front matter are not prose to copy-edit; empty blocks and blocks without a
single letter have nothing to judge.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from blockpass.blocks import Block, BlockKind, BlockResult, Outcome

DEFAULT_SKIP_KINDS = frozenset(
    {
        BlockKind.CODE,
        BlockKind.TABLE,
        BlockKind.HTML,
        BlockKind.IMAGE_ONLY,
        BlockKind.THEMATIC_BREAK,
        BlockKind.FRONT_MATTER,
        BlockKind.EMPTY,
    }
)


def skip_reason(block: Block, skip_kinds: Collection[BlockKind] = DEFAULT_SKIP_KINDS) -> str | None:
    if block.kind in skip_kinds:
        return f"kind:{block.kind.value}"
    if not block.text.strip():
        return "empty"
    if not any(character.isalpha() for character in block.text):
        return "no-letters"
    return None


def prefilter(
    blocks: Iterable[Block], skip_kinds: Collection[BlockKind] = DEFAULT_SKIP_KINDS
) -> tuple[list[Block], list[BlockResult]]:
    """The blocks to send, and a recorded skip for each of the others."""
    to_send: list[Block] = []
    skipped: list[BlockResult] = []
    for block in blocks:
        reason = skip_reason(block, skip_kinds)
        if reason is None:
            to_send.append(block)
        else:
            skipped.append(
                BlockResult(
                    block_id=block.id,
                    content_hash=block.content_hash,
                    outcome=Outcome.SKIPPED,
                    reason=reason,
                )
            )
    return to_send, skipped
