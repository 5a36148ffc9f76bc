"""Deterministic token counting.

No provider's real tokenizer can be shipped, so blockpass and its sandbox share one documented
approximation. Text is cut into pieces by one regular expression, tried at each position in
this order:

1. an optional single space and then a run of at most ``word_chunk`` letters,
2. an optional single space and then one to three digits,
3. an optional single space and then one or two punctuation characters,
4. an underscore, a run of newlines, or a run of other whitespace.

Every piece is one token, and the pieces concatenate back to the text, so output can be cut at
an exact token count (as a ``max_tokens`` stop does). English prose comes out at roughly four
to five characters per token, close to what hosted models report. Two families exist because
Claude 4.7+ and Haiku 5.5 count about 30% more tokens for the same text (``PROVIDERS.md``):
the ``dense`` family cuts words into shorter chunks.

Counting is cached per distinct text: a run repeats the same multi-thousand-token guide in
every request, and it must be counted once.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

__all__ = ["TokenizerFamily", "count_tokens", "truncate_to_tokens"]


class TokenizerFamily(StrEnum):
    CLASSIC = "classic"
    DENSE = "dense"


def _piece_pattern(word_chunk: int) -> re.Pattern[str]:
    letters = r"[^\W\d_]"
    return re.compile(rf" ?{letters}{{1,{word_chunk}}}| ?\d{{1,3}}| ?[^\w\s]{{1,2}}|_|\n+|[^\S\n]+")


_PATTERNS = {
    TokenizerFamily.CLASSIC: _piece_pattern(5),
    TokenizerFamily.DENSE: _piece_pattern(3),
}


@lru_cache(maxsize=65536)
def count_tokens(text: str, family: TokenizerFamily = TokenizerFamily.CLASSIC) -> int:
    return len(_PATTERNS[family].findall(text))


def truncate_to_tokens(
    text: str, limit: int, family: TokenizerFamily = TokenizerFamily.CLASSIC
) -> str:
    """The longest prefix of ``text`` that is at most ``limit`` tokens."""
    if limit <= 0:
        return ""
    end = 0
    for taken, match in enumerate(_PATTERNS[family].finditer(text), start=1):
        end = match.end()
        if taken == limit:
            break
    return text[:end]
