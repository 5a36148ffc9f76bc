"""Which of the engine's substitutions may be applied to a document without a model.

Vale only reports; blockpass rewrites, so a fix it applies on its own must be right
wherever it lands. A substitution alert with one replacement becomes an edit only when
all of these hold; otherwise it stays a note (the rule's message, for the model or the
user to act on):

1. **It changes no letter, no digit and no word boundary.** The replacement, given the
   capitalisation of what it replaces (``E-mail`` → ``Email``, ``HARDCODED`` →
   ``HARD-CODED``), has exactly the same letters and digits in the same order as the
   matched text, and as many words: only hyphens and punctuation within words change
   (``e-mail`` → ``email``, ``WiFi`` → ``Wi-Fi``, ``hardcoded`` → ``hard-coded``). A
   different word (``touch`` → ``tap``, ``vs`` → ``versus``), a contraction (``it is`` →
   ``it's``, ``cannot`` → ``can't``), an expansion (``e.g.`` → ``for example``), a change
   of case alone (``url`` → ``URL``) or words joined or split (``call out`` → ``callout``,
   a verb made a noun; ``floating-point`` → ``floating point``) depends on what the
   sentence means, so it is a note.
2. **It keeps the separators the pattern matched.** Whitespace and separating punctuation
   (``, ; : ! ?``, brackets, quotation marks) at either end of a match that has letters
   stay in place unless the replacement itself begins or ends with them (``e-mail\\s`` →
   ``email`` turns ``e-mail now`` into ``email now``).
3. **It touches no markup and no quotation.** Neither the matched text nor the
   replacement holds a Markdown or HTML markup character, and the match lies outside code,
   links (their text, label and target, also as ``<a>``), images, HTML tags and comments,
   ``<code>``-like elements, bare URLs, attribute lists (a heading's ``{#anchor}``), math
   (``$...$``) and quoted text (``<q>``, and text between double
   quotes, curly quotes, guillemets, or single quotes that open and close around words).
4. **It is in prose of the author's own.** The block is a paragraph, list item or heading
   that is not inside a blockquote (``>``); tables, HTML and quoted blocks get notes only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from blockpass.blocks import Block, BlockKind

__all__ = ["Fix", "fixable_block", "proposable_fix", "protected_spans", "safe_fix"]

_FIXABLE_KINDS = frozenset({BlockKind.PARAGRAPH, BlockKind.LIST_ITEM, BlockKind.HEADING})
_SEPARATORS = frozenset(" \t\r\n\u00a0,;:!?()[]{}\"'“”‘’«»")
_MARKUP = frozenset("`*_[]<>\\|#&~")
_PROTECTED = re.compile(
    r"""
      (?P<ticks>`+)[\s\S]*?(?<!`)(?P=ticks)(?!`)          # code span
    | !?\[(?:[^\[\]]|\[[^\[\]]*\])*\]                    # link or image text, [label] alone,
      (?:\([^()\n]*(?:\([^()\n]*\)[^()\n]*)*\)            # and its (target "title")
      | \[[^\[\]]*\])?                                  # or its [label]
    | <!--[\s\S]*?(?:-->|$)                            # HTML comment
    | (?i:<(?P<tag>a|q|code|kbd|samp|tt)\b[^>]*>       # HTML link, quotation or code,
      [\s\S]*?(?:</(?P=tag)\s*>|$))                     # with what it holds
    | <[^<>\n]*>                                       # HTML tag or autolink
    | \b(?:https?|ftp)://\S+ | \bwww\.\S+              # bare URL
    | \{[:#.][^{}\n]*\}                                # attribute list: {#anchor .class}
    | \$\$[\s\S]*?(?:\$\$|$)                            # math, displayed
    | (?<![\w$])\$(?=\S)[^$\n]*(?<=\S)\$(?![\w$])       # or inline (not "$5 or $6")
    | "[^"]*(?:"|$)                                    # quotations, to the end of the
    | “[^”]*(?:”|$) | «[^»]*(?:»|$)                    # block when they do not close
    | (?<!\w)‘[^’]*(?:’(?!\w)|$)
    | (?<![\w'])'(?=\S)[^'\n]*(?<=\S)'(?!\w)             # 'quoted', not an apostrophe
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class Fix:
    """Replace ``text[start:end]`` with ``replacement``."""

    start: int
    end: int
    replacement: str


def _letters(text: str) -> list[str]:
    return [c for c in text if c.isalnum()]


def _with_case_of(observed: str, replacement: str) -> str:
    """The replacement capitalised as the text it replaces: a capital first letter stays
    capital, a word in capitals stays in capitals."""
    letters = "".join(c for c in observed if c.isalpha())
    if len(letters) > 1 and letters.isupper() and replacement == replacement.lower():
        return replacement.upper()
    if observed[:1].isupper() and replacement[:1].islower():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _separators(observed: str, replacement: str) -> tuple[int, int]:
    """How many characters at each end of ``observed`` are separators the edit leaves in
    place: those the replacement does not itself begin or end with."""
    if not _letters(observed):
        return 0, 0  # a rule about spacing or punctuation itself: its match is its subject
    lead = len(observed) - len(observed.lstrip("".join(_SEPARATORS)))
    trail = len(observed) - len(observed.rstrip("".join(_SEPARATORS)))
    if replacement.startswith(observed[:lead]):
        lead = 0
    if trail and replacement.endswith(observed[-trail:]):
        trail = 0
    return lead, trail


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of a block's Markdown source that an engine fix never touches."""
    return [m.span() for m in _PROTECTED.finditer(text)]


def fixable_block(block: Block, raw: bytes) -> bool:
    """Whether the block is prose outside any blockquote; ``raw`` is its document's source.
    A blockquote's marker is in the container prefix before the block on its first line."""
    if block.kind not in _FIXABLE_KINDS or block.span is None:
        return False
    start = block.span.start
    return b">" not in raw[raw.rfind(b"\n", 0, start) + 1 : start]


def proposable_fix(
    text: str, start: int, end: int, replacement: str, protected: list[tuple[int, int]]
) -> Fix | None:
    """The fix for replacing ``text[start:end]`` by ``replacement`` where a model judges what
    it means (``proposals.py``): rules 2 to 3 hold, rule 1 is left to the model; else None."""
    observed = text[start:end]
    lead, trail = _separators(observed, replacement)
    start, end = start + lead, end - trail
    core = text[start:end]
    replacement = _with_case_of(core, replacement)
    if not core or replacement == core or _MARKUP & set(core + replacement):
        return None
    if any(low < end and start < high for low, high in protected):
        return None
    return Fix(start, end, replacement)


def safe_fix(
    text: str, start: int, end: int, replacement: str, protected: list[tuple[int, int]]
) -> Fix | None:
    """The fix for replacing ``text[start:end]`` by ``replacement``, when it is safe in any
    context (see the module's documentation), else None."""
    fix = proposable_fix(text, start, end, replacement, protected)
    if fix is None:
        return None
    core = text[fix.start : fix.end]
    if _letters(fix.replacement) != _letters(core):
        return None
    if len(fix.replacement.split()) != len(core.split()):
        return None
    return fix
