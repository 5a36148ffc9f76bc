"""How a prompt frames rule units: one ``<rule id="LABEL">`` element each.

Framing is paid for on every unit a request carries (the whole Red Hat guide is 1,191 units),
so it says only what the unit's own text does not:

- ``LABEL`` is the shortest trailing part of the unit's stable id, cut at ``#`` and ``/``,
  that no other unit of the same reference material ends in (``UnitLabels``): an AsciiDoc
  section's anchor (``bottleneck``), a Markdown page's file name, a Vale rule's id. It is
  what a compact verdict's legend cites (a code and a name without spaces), and the sandbox
  reads carried sections back from it (``sandbox/presence.py``).
- A ``title`` attribute only where the text's first line does not already hold the title
  (a guide section starts with its heading, a Vale rule unit with its id).

The element is closed by ``</rule>``, so the text of one unit cannot run into the next.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Unit", "UnitLabels", "render_units"]


class Unit(Protocol):
    """A rule unit as a prompt needs it (``rag.RuleUnit`` is one)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def text(self) -> str: ...


_CUT = re.compile(r"[#/]")


def _endings(unit_id: str) -> list[str]:
    """The id's trailing parts, shortest first, the whole id last."""
    cuts = [match.end() for match in _CUT.finditer(unit_id)]
    return [unit_id[cut:] for cut in reversed(cuts) if cut < len(unit_id)] + [unit_id]


@dataclass(frozen=True, slots=True)
class UnitLabels:
    """The label of each unit of one body of reference material, by unit id."""

    labels: Mapping[str, str]

    @classmethod
    def of(cls, units: Iterable[Unit]) -> UnitLabels:
        """Labels for ``units``, which must be all the units a run may render: a label is
        chosen against every other unit's id, so no two units share one."""
        ids = list(dict.fromkeys(unit.id for unit in units))
        endings = {unit_id: _endings(unit_id) for unit_id in ids}
        # Each ending counted once per id that has it; an id that is another's ending keeps
        # its whole form, which no other label can be (it would then be counted twice).
        taken = Counter(ending for parts in endings.values() for ending in set(parts))
        return cls(
            {
                unit_id: next((ending for ending in parts if taken[ending] == 1), unit_id)
                for unit_id, parts in endings.items()
            }
        )

    def label(self, unit_id: str) -> str:
        return self.labels.get(unit_id, unit_id)


def render_units(units: Iterable[Unit], labels: UnitLabels) -> str:
    """Units as a prompt carries them: one ``<rule>`` element each, named by its label."""
    return "\n".join(_element(unit, labels.label(unit.id)) for unit in units)


def _element(unit: Unit, label: str) -> str:
    first_line = unit.text.split("\n", 1)[0]
    titled = "" if unit.title in first_line else f' title="{_attribute(unit.title)}"'
    return f'<rule id="{_attribute(label)}"{titled}>\n{unit.text}\n</rule>'


def _attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("\n", " ")
