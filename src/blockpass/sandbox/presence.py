"""Which rules a request carries, so that the responder applies only those.

A real model cannot apply a rule it was never shown. A request that sends the whole guide (or
no retrieved rules at all) carries every rule, as before retrieval existed. A request in
retrieve mode (``blockpass.context``) carries its core and the ``<rule id="...">`` units
chosen for its pack: a Vale rule is carried when its own unit is there, or the guide section
it belongs to. Which section that is comes from label files beside the rule package (the
RedHat package has them, see ``../shared/data/styles/RedHat/README.md``):

- ``rule_links.tsv``: the guide section (anchor) a rule links to;
- ``ssg_sections.tsv``: the sections' parents: a rule that links to a section is carried by
  any section inside it (a glossary rule by its glossary entries);
- ``retrieval_cases.jsonl``: for a term a rule flags, the exact entries that define it;
  where a term is listed there, only those entries carry the rule for it.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CarriedRules", "RuleLinks", "carried_rules"]

_RULE_TAG = re.compile(r'<rule id="([^"]+)"')
_CORE = re.compile(r'<style_guide name="[^"]*" part="core">')
_WHOLE_GUIDE = re.compile(r'<style_guide name="[^"]*">')


@dataclass(frozen=True, slots=True)
class RuleLinks:
    section: dict[str, str] = field(default_factory=dict)
    children: dict[str, tuple[str, ...]] = field(default_factory=dict)
    entries: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)

    @classmethod
    def beside(cls, package: Path) -> RuleLinks:
        """The label files in the folder that holds the rule package; none: no links."""
        folder = package.parent
        links = folder / "rule_links.tsv"
        if not links.is_file():
            return cls()
        with links.open(encoding="utf-8", newline="") as rows:
            section = {
                row["rule"]: row["ssg_anchor"] for row in csv.DictReader(rows, delimiter="\t")
            }
        children: dict[str, list[str]] = defaultdict(list)
        sections = folder / "ssg_sections.tsv"
        if sections.is_file():
            with sections.open(encoding="utf-8", newline="") as rows:
                for row in csv.DictReader(rows, delimiter="\t"):
                    if row["parent"]:
                        children[row["parent"]].append(row["ssg_anchor"])
        entries: dict[tuple[str, str], set[str]] = defaultdict(set)
        cases = folder / "retrieval_cases.jsonl"
        if cases.is_file():
            for line in cases.read_text(encoding="utf-8").splitlines():
                case = json.loads(line)
                if case.get("specific") and case.get("matched"):
                    key = (case["rule"], case["matched"].casefold())
                    entries[key].add(case["ssg_anchor"])
                    entries[key].update(also["ssg_anchor"] for also in case.get("also", ()))
        return cls(
            section={rule: anchor for rule, anchor in section.items() if anchor},
            children={parent: tuple(kids) for parent, kids in children.items()},
            entries={key: frozenset(anchors) for key, anchors in entries.items()},
        )

    def sections_for(self, rule_id: str, match: str) -> frozenset[str]:
        """The sections any of which carries ``rule_id`` for a ``match`` it flags."""
        specific = self.entries.get((rule_id, match.casefold()))
        if specific:
            return specific
        top = self.section.get(rule_id)
        if top is None:
            return frozenset()
        found = {top}
        queue = [top]
        while queue:
            for child in self.children.get(queue.pop(), ()):
                if child not in found:
                    found.add(child)
                    queue.append(child)
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class CarriedRules:
    """The rule units a retrieve-mode request carries: Vale rule ids, and guide section
    anchors (a unit's label, or its part after ``#``: ``unit_framing.UnitLabels``)."""

    ids: frozenset[str]
    anchors: frozenset[str]

    def carries(self, rule_id: str, match: str, links: RuleLinks) -> bool:
        if rule_id in self.ids:
            return True
        return not self.anchors.isdisjoint(links.sections_for(rule_id, match))


def carried_rules(instructions: str) -> CarriedRules | None:
    """What a request's instructions carry; None when they carry every rule (not a
    retrieve-mode request, or one that fell back to the whole guide)."""
    if not _CORE.search(instructions) or _WHOLE_GUIDE.search(instructions):
        return None
    ids = _RULE_TAG.findall(instructions)
    return CarriedRules(
        ids=frozenset(ids),
        anchors=frozenset(unit.rpartition("#")[2] for unit in ids),
    )
