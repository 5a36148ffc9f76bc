"""What a ``.vale.ini`` tells Vale not to read: ``TokenIgnores``, ``BlockIgnores`` (per
file section), ``IgnoredScopes`` and ``SkippedScopes`` (global).

Vale applies ``TokenIgnores`` and ``BlockIgnores`` (and the older name ``IgnorePatterns``)
to the file's source before reading it: a Markdown match becomes a code span or a code
block, so no rule reads it. Here every character of a match is masked like code (``*``,
line breaks kept) wherever it lands in a scoped text, so a rule neither matches inside it
nor joins the words on either side of it. ``IgnoredScopes`` names inline HTML tags whose
text is masked the same way; Markdown's ``**strong**``, ``*em*`` and ``~~del~~`` are the
tags ``strong``, ``em`` and ``del``. Code spans, ``<code>``, ``<kbd>`` and ``<tt>`` are
always masked, whatever the setting. ``SkippedScopes`` names HTML tags whose whole content
is dropped, as ``<script>``, ``<style>``, ``<pre>`` and ``<figure>`` always are.
``IgnoredClasses`` names HTML classes, added to the ``problematic``, ``pre`` and ``code``
that Vale always ignores: an inline tag with one of them masks the text right after it (up
to the next tag, as Vale's walker does), any other tag drops its whole content.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from blockpass.rules.inline import mask
from blockpass.rules.patterns import Pattern, RegexError, compile_pattern
from blockpass.rules.scopes import ScopedText

__all__ = ["NO_IGNORES", "Ignores", "check_pattern", "masked"]


@lru_cache(maxsize=256)
def _compiled(pattern: str) -> Pattern:
    return compile_pattern(pattern)


def check_pattern(pattern: str) -> str:
    """``""`` when ``pattern`` compiles, else what is wrong with it."""
    try:
        _compiled(pattern)
    except RegexError as exc:
        return str(exc)
    return ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ignores:
    tokens: tuple[str, ...] = ()
    blocks: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    skipped: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()

    def spans(self, source: str) -> list[tuple[int, int]]:
        """The source ranges no rule reads, sorted and merged."""
        found = sorted(
            (m.start(), m.end())
            for pattern in (*self.blocks, *self.tokens)
            for m in _compiled(pattern).finditer(source)
            if m.end() > m.start()
        )
        merged: list[tuple[int, int]] = []
        for start, end in found:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


NO_IGNORES = Ignores()


def masked(text: ScopedText, spans: Sequence[tuple[int, int]]) -> ScopedText:
    """``text`` with every character whose source offset falls in ``spans`` masked."""
    if not spans:
        return text
    starts = [start for start, _ in spans]
    chars = list(text.text)
    hit = False
    for i, offset in enumerate(text.offsets[: len(chars)]):
        k = bisect_right(starts, offset) - 1
        if k >= 0 and offset < spans[k][1]:
            chars[i] = mask(chars[i])
            hit = True
    if not hit:
        return text
    return ScopedText(
        sections=text.sections,
        text="".join(chars),
        offsets=text.offsets,
        fragment=text.fragment,
        block_id=text.block_id,
    )
