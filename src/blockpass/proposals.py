"""The rule engine's context-dependent fixes, proposed to the model and answered by number.

A substitution the engine cannot apply safely in every context (``rules/fixes.py``: a
contraction, a different word, a change of case) used to become a note for the model or
the user to act on, and a model that agreed wrote the same edit again in its answer. With
``--styles``, each such fix goes into the pack instead, numbered per block, after the
blocks and inside the pack's framing (``packformat.render_pack``: block text cannot forge
one)::

    b3 1 that is => that's (Google.Contractions)

and the model accepts a proposal by its number (``+1`` in a compact item, ``"accept": [1]``
in a full one) instead of restating it. An accepted proposal is applied as the engine's own
edit (source ``rules``), wherever it still applies: one that overlaps an edit placed before
it, or whose words are not in the block, is rejected and counted. A proposal the model does
not accept is not applied, and the engine's note on its rule is kept, as before proposals.
So the results file keeps its shape: edits and notes, nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from blockpass.blocks import Edit

__all__ = [
    "ACCEPT_MARK",
    "COMPACT_PROPOSALS",
    "FULL_PROPOSALS",
    "RULE_SOURCE",
    "Proposal",
    "accepted_numbers",
    "one_line",
    "proposal_lines",
]

ACCEPT_MARK = "+"
# The source of the engine's edits: its safe fixes, and the proposals a model accepted.
RULE_SOURCE = "rules"

COMPACT_PROPOSALS = """\
After the blocks, <proposals-CODE> may list fixes a rule engine proposes, one a line, for
example "b3 1 that is => that's (Google.Contractions)": proposal 1 of block b3 replaces
the words before "=>" with the words after it, by the rule in brackets. For each proposal
that is right where it stands, write "+" and its number among that block's findings, as in
["b3", "+1"]; never write an accepted proposal again as an edit of your own. A proposal you
leave out is rejected: it is not applied.
"""

FULL_PROPOSALS = """\
After the blocks, <proposals-CODE> may list fixes a rule engine proposes, one a line, for
example "b3 1 that is => that's (Google.Contractions)": proposal 1 of block b3 replaces
the words before "=>" with the words after it, by the rule in brackets. Accept the ones
that are right where they stand by their numbers, in an edit result's "accept" list, as in
{"id": "b3", "verdict": "edit", "edits": [], "notes": [], "accept": [1]}; never write an
accepted proposal again as an edit of your own. A proposal you leave out is rejected: it is
not applied. Without proposals to accept, "accept" is [].
"""

_BREAKS = re.compile(r"\s*\n\s*")


@dataclass(frozen=True, slots=True)
class Proposal:
    """One fix the engine proposes: its edit (source ``rules``), and the note the engine
    writes on its rule when the fix is not applied."""

    edit: Edit
    note: str

    def line(self, number: int) -> str:
        """How the pack shows it: one line, a soft line break in the text read as a space
        (the number, not the text, says which edit is applied)."""
        find, replace = one_line(self.edit.find), one_line(self.edit.replace)
        return f"{number} {find} => {replace} ({self.edit.rule})"


def one_line(text: str) -> str:
    """Text as a proposal's line shows it: line breaks, with the space around them, as one
    space."""
    return _BREAKS.sub(" ", text)


def proposal_lines(proposals: Sequence[Proposal]) -> tuple[str, ...]:
    return tuple(proposal.line(number) for number, proposal in enumerate(proposals, start=1))


def accepted_numbers(value: object) -> list[int] | None:
    """The proposal numbers an answer item accepts (``accept``), in order and each once;
    None when the value is not a list of whole numbers."""
    if not isinstance(value, list) or not all(_is_number(entry) for entry in value):
        return None
    return list(dict.fromkeys(int(entry) for entry in value))


def accepted_edits(numbers: Iterable[int], proposals: Sequence[Proposal]) -> list[Edit]:
    """The edits of the proposals with these numbers; a number no proposal has adds none."""
    return [proposals[number - 1].edit for number in numbers if 1 <= number <= len(proposals)]


def _is_number(entry: Any) -> bool:
    return isinstance(entry, int) and not isinstance(entry, bool)
