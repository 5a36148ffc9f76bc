"""Which blocks need no model at all, and why. Every skip records its reason.

The cheapest token is the one never sent. Defaults are what a documentation team expects:
code, tables, raw HTML, images, thematic breaks and front matter are not prose to
copy-edit; empty blocks, blocks without a letter, blocks shorter than a few letters, and
blocks that are only markup (links' targets, inline code, HTML tags, images, mdBook
directives) leave nothing for a style guide to judge.

Reasons are short, stable strings (``kind:code``, ``empty``, ``no-letters``, ``too-short``,
``markup-only``) so reports can count them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

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

# Markup that carries no prose: removed before asking whether any words are left.
_MARKUP = re.compile(
    r"\{\{#[^}]*\}\}"  # mdBook directives
    r"|!\[[^\]]*\]\([^)]*\)"  # images
    r"|\]\([^)]*\)"  # link targets (the link text stays)
    r"|<[^>\n]+>"  # HTML tags and autolinks
    r"|`+[^`]*`+"  # inline code
    r"|\[\^?[\w-]+\]"  # footnote and reference labels
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrefilterSettings:
    skip_kinds: frozenset[BlockKind] = field(default_factory=lambda: DEFAULT_SKIP_KINDS)
    min_letters: int = 3


def skip_reason(block: Block, settings: PrefilterSettings) -> str | None:
    if block.kind in settings.skip_kinds:
        return f"kind:{block.kind.value}"
    if not block.text.strip():
        return "empty"
    letters = sum(character.isalpha() for character in block.text)
    if letters == 0:
        return "no-letters"
    if not any(character.isalpha() for character in _MARKUP.sub(" ", block.text)):
        return "markup-only"
    if letters < settings.min_letters:
        return "too-short"
    return None


def prefilter(
    blocks: Iterable[Block], settings: PrefilterSettings | None = None
) -> tuple[list[Block], list[BlockResult]]:
    """The blocks that need the model, and a recorded skip for each of the others."""
    settings = settings or PrefilterSettings()
    to_send: list[Block] = []
    skipped: list[BlockResult] = []
    for block in blocks:
        reason = skip_reason(block, settings)
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
