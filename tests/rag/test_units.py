from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.errors import UserInputError
from blockpass.rag import UnitKind, load_units, vale_units
from blockpass.rules import load_vale_package


def test_each_vale_rule_is_one_unit_with_its_message_link_and_word_list(
    google_rules: Path,
) -> None:
    package = load_vale_package(google_rules)
    units = {unit.id: unit for unit in vale_units([package])}
    assert set(units) == {rule.id for rule in package.rules}
    will = units["Google.Will"]
    assert will.kind is UnitKind.VALE_RULE
    assert will.source == "Google/Will.yml"
    assert "Message: Avoid using '%s'." in will.text
    assert "Link: https://developers.google.com/style/tense" in will.text
    assert will.triggers.pattern == r"(?i)\b(?:will)\b"
    word_list = units["Google.WordList"]
    assert "Replace: " in word_list.text
    assert "(?:" in word_list.triggers.pattern
    # A rule that judges something other than words has no trigger.
    assert not units["Google.Headings"].triggers


def test_guides_come_before_rules_and_ids_are_unique(shared_data: Path, google_rules: Path) -> None:
    guide = shared_data / "guides" / "18f-content-guide" / "our-style" / "active-voice.md"
    units = load_units([guide], [load_vale_package(google_rules)])
    assert units[0].id == "active-voice.md"
    assert units[1].id == "active-voice.md#how-to-recognize-the-passive-voice"
    assert units[-1].kind is UnitKind.VALE_RULE
    assert len({unit.id for unit in units}) == len(units)


def test_the_same_guide_given_twice_is_refused(shared_data: Path) -> None:
    guide = shared_data / "guides" / "18f-content-guide" / "our-style" / "active-voice.md"
    with pytest.raises(UserInputError, match="share the id"):
        load_units([guide, guide], [])


def test_a_units_search_text_leads_with_where_it_sits(shared_data: Path) -> None:
    guide = shared_data / "guides" / "18f-content-guide" / "our-style"
    unit = next(unit for unit in load_units([guide], []) if unit.heading_path)
    assert unit.search_text.startswith("\n".join(unit.heading_path))
