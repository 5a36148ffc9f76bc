from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from blockpass.documents.markdown import split_front_matter
from blockpass.errors import UserInputError
from blockpass.rag import UnitKind, guide_units
from blockpass.rag.markdown_guide import heading_anchor


@pytest.fixture
def guide_18f(shared_data: Path) -> Path:
    return shared_data / "guides" / "18f-content-guide"


def test_no_unit_of_the_18f_guide_carries_its_front_matter(guide_18f: Path) -> None:
    units = guide_units(guide_18f)
    assert len(units) > 50
    for unit in units:
        assert "permalink:" not in unit.text
        assert "sidenav" not in unit.text
        assert not unit.text.startswith("---")


def test_a_page_intro_is_titled_by_its_front_matter_and_ids_name_page_and_anchor(
    guide_18f: Path,
) -> None:
    units = {unit.id: unit for unit in guide_units(guide_18f)}
    intro = units["18f-content-guide/our-style/active-voice.md"]
    assert intro.title == "Active voice"
    assert intro.text.startswith("# Active voice\n\nOur writing should be concise")
    section = units[
        "18f-content-guide/our-style/active-voice.md#how-to-recognize-the-passive-voice"
    ]
    assert section.kind is UnitKind.GUIDE_SECTION
    assert section.heading_path == ("Active voice",)
    assert section.text.startswith("## How to recognize the passive voice\n")
    assert "## When to use" not in section.text  # a section holds its own text only


def test_anchors_match_the_links_the_18f_pages_publish_in_their_subnav(guide_18f: Path) -> None:
    """Jekyll's subnav hrefs are written by the guide's authors: our anchors must agree (a
    heading with no text of its own is no unit, but its subsections carry its title)."""
    units = guide_units(guide_18f)
    anchors = {(unit.source, unit.anchor) for unit in units}
    anchors |= {
        (unit.source, heading_anchor(title, set())) for unit in units for title in unit.heading_path
    }
    checked = 0
    for page in sorted(guide_18f.glob("*/*.md")):  # the licence page is no guidance
        front, _ = split_front_matter(page.read_text("utf-8"))
        meta = yaml.safe_load(front) if front else None
        for link in (meta or {}).get("subnav") or []:
            href = str(link.get("href", ""))
            if href.startswith("#"):
                checked += 1
                assert (page.relative_to(guide_18f).as_posix(), href[1:]) in anchors, href
    assert checked > 20


def test_repeated_headings_get_numbered_anchors_like_kramdown() -> None:
    taken: set[str] = set()
    assert heading_anchor("Examples", taken) == "examples"
    assert heading_anchor("Examples", taken) == "examples-1"
    assert heading_anchor("2. Don't panic!", taken) == "dont-panic"
    assert heading_anchor("42", taken) == "section"


def test_a_heading_inside_a_code_fence_is_not_a_section(tmp_path: Path) -> None:
    page = tmp_path / "guide.md"
    page.write_text("# Guide\n\nIntro.\n\n```\n# not a heading\n```\n\n## Real\n\nText.\n")
    units = guide_units(page)
    assert [unit.title for unit in units] == ["Guide", "Real"]
    assert "# not a heading" in units[0].text


def test_a_guide_of_only_front_matter_is_refused_in_one_line(tmp_path: Path) -> None:
    page = tmp_path / "empty.md"
    page.write_text("---\ntitle: Nothing here\n---\n\n")
    with pytest.raises(UserInputError, match="no text outside its front matter"):
        guide_units(page)


def test_an_empty_guide_and_a_binary_guide_are_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "binary.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe")
    with pytest.raises(UserInputError, match="no text"):
        guide_units(tmp_path / "empty.md")
    with pytest.raises(UserInputError, match="not valid UTF-8"):
        guide_units(tmp_path / "binary.md")


def test_a_missing_guide_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="guide not found"):
        guide_units(tmp_path / "nope.md")
