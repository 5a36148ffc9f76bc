from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.errors import UserInputError
from blockpass.task import GUIDE_REFERENCE, load_guide, load_task, prompt_references


def test_the_18f_guides_front_matter_never_reaches_the_prompt(shared_data: Path) -> None:
    guide = shared_data / "guides" / "18f-content-guide"
    task = load_task(guide)
    prefix = task.system_prefix
    for metadata in ("permalink:", "sidenav:", "sticky_sidenav", "subnav:"):
        assert metadata not in prefix
    assert '">\n---' not in prefix  # no page opens with front matter
    # Each page is still named, by its path and its title.
    assert '<page path="our-style/active-voice.md" title="Active voice">\n' in prefix
    assert "Our writing should be concise and direct." in prefix
    assert f"{GUIDE_REFERENCE}How to recognize the passive voice" in prompt_references(prefix)


def test_a_single_guide_file_loses_its_front_matter_and_keeps_its_text(tmp_path: Path) -> None:
    page = tmp_path / "guide.md"
    page.write_text(
        "---\ntitle: House style\nlayout: page\n---\n# Numbers\n\nSpell out one to nine.\n"
    )
    assert load_guide(page) == "# Numbers\n\nSpell out one to nine.\n"


def test_a_title_with_markup_characters_is_escaped_in_the_page_tag(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text('---\ntitle: Quotes "and" <tags>\n---\nText.\n')
    assert load_guide(tmp_path).startswith(
        '<page path="a.md" title="Quotes &quot;and&quot; &lt;tags&gt;">\nText.\n'
    )


def test_a_page_of_only_front_matter_is_an_empty_guide(tmp_path: Path) -> None:
    page = tmp_path / "guide.md"
    page.write_text("---\ntitle: Nothing else\n---\n")
    with pytest.raises(UserInputError, match="guide is empty"):
        load_guide(page)


def test_broken_front_matter_yaml_still_leaves_the_front_matter_out(tmp_path: Path) -> None:
    page = tmp_path / "guide.md"
    page.write_text("---\ntitle: [unclosed\n---\nBody.\n")
    assert load_guide(tmp_path) == '<page path="guide.md">\nBody.\n\n</page>'
