"""Vale's comment controls: which rules a document switches off, and where.

A Markdown document can govern the linter from inside, with HTML comments (Vale's
``core.File.UpdateComments`` and ``QueryComments``):

``<!-- vale off -->`` … ``<!-- vale on -->``
    no rule reads the text in between;
``<!-- vale Style.Rule = NO -->`` … ``= YES``
    that rule does not;
``<!-- vale Style = NO -->`` … ``= YES``
    no rule of that style does (a later switch wins: a style's switch overrides
    earlier ones for each of its rules, a rule's switch then overrides the style's);
``<!-- vale Style.Rule["a", "b"] = NO -->`` … ``= YES``
    that rule does not report those matches.

Only comments that are markup count: one inside a code span or a code block is text (the
reader in ``markup.py`` collects them, with their offsets in the source). A control takes
effect where it stands, so a comment in the middle of a paragraph covers the rest of it;
Vale applies the state at the end of the paragraph to the whole of it, which for a comment
placed between blocks (the usual way, and every case in Vale's own acceptance suite) is
the same. The document-wide scopes (``raw``, ``summary``) are read after Vale has reset
every rule and style switch, so only a ``vale off`` left open at the end still holds there.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["OFF", "CommentControls"]

_SWITCH = re.compile(r"^vale\s+([^\s\[=]+)\s*(\[.*\])?\s*=\s*(YES|NO)$")
# Key under which the whole-document switch is kept; no rule or style id contains a space.
OFF = "vale off"


def _switches(comment: str) -> dict[str, bool]:
    """What one comment sets: key → switched off (True) or back on (False)."""
    text = comment.strip()
    if text in ("vale off", "vale on"):
        return {OFF: text == "vale off"}
    found = _SWITCH.match(text)
    if found is None:
        return {}
    name, matches, value = found.groups()
    off = value == "NO"
    if matches is None:
        return {name: off}
    try:
        listed = json.loads(matches)
    except json.JSONDecodeError:
        return {}
    if not isinstance(listed, list):
        return {}
    return {f"{name}[{match}]": off for match in listed if isinstance(match, str)}


@dataclass(frozen=True, slots=True)
class CommentControls:
    """The switches in force from each control comment on, in source order."""

    starts: tuple[int, ...] = ()
    states: tuple[Mapping[str, bool], ...] = ()

    @classmethod
    def read(cls, comments: Iterable[tuple[int, str]]) -> CommentControls:
        """``comments`` are (offset where the comment ends, its text) in any order."""
        starts: list[int] = []
        states: list[Mapping[str, bool]] = []
        current: dict[str, bool] = {}
        for offset, comment in sorted(comments):
            update = _switches(comment)
            if update:
                # A style's switch overrides what came before for each of its rules.
                styles = tuple(f"{key}." for key in update if "." not in key and key != OFF)
                kept = {k: v for k, v in current.items() if not k.startswith(styles)}
                current = {**kept, **update}
                starts.append(offset)
                states.append(MappingProxyType(current))
        return cls(tuple(starts), tuple(states))

    def _state(self, offset: int) -> Mapping[str, bool]:
        at = bisect_right(self.starts, offset) - 1
        return self.states[at] if at >= 0 else {}

    def silences(self, rule_id: str, style: str, offset: int, match: str) -> bool:
        """Whether the rule's alert at ``offset`` (in the source) is switched off there."""
        if not self.starts:
            return False
        state = self._state(offset)
        if state.get(OFF, False):
            return True
        for key in (f"{rule_id}[{match.strip()}]", rule_id, style):
            if key in state:
                return state[key]
        return False

    def off_at_end(self) -> bool:
        """Whether a ``vale off`` is still open at the end (it silences raw and summary)."""
        return bool(self.states) and self.states[-1].get(OFF, False)
