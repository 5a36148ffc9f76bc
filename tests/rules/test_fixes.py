"""Where the engine applies a fix on its own, and where a fix stays a note."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.deterministic import RuleCheck
from blockpass.documents.markdown import read_markdown
from blockpass.results import apply_edits
from blockpass.rules import load_vale_package

STYLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "styles"
GOOGLE = RuleCheck([load_vale_package(STYLES / "Google" / "Google")])


def revised(markdown: str) -> tuple[str, str]:
    """The block texts of a one-block document as read, and with the engine's fixes."""
    document = read_markdown(markdown.encode(), document_id="d.md")
    [block] = document.blocks
    findings = GOOGLE.findings([document], {block.id})
    assert block.id in findings  # the rule did fire
    return block.text, apply_edits(block.text, findings[block.id].edits)


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("It's the user's e-mail.\n", "It's the user's email."),
        ("Send *e-mail* today.\n", "Send *email* today."),
        ("# E-mail settings\n", "Email settings"),
        ("- Send e-mail.\n", "Send email."),
    ],
)
def test_apostrophes_emphasis_headings_and_list_items_do_not_stop_a_safe_fix(
    markdown: str, expected: str
) -> None:
    assert revised(markdown)[1] == expected


@pytest.mark.parametrize(
    "markdown",
    [
        "Type 'e-mail' in the box.\n",
        "He said \u201cuse e-mail\u201d and left.\n",
        'It opens "a quotation that runs on to the e-mail.\n',
        "> - A list item quoted: send e-mail.\n",
        "Go to <https://example.com/e-mail> or www.example.com/e-mail now.\n",
        '<a href="x">send e-mail</a>\n',
        "| a | b |\n|---|---|\n| e-mail | x |\n",
    ],
)
def test_quoted_linked_tabled_and_html_text_keeps_its_words(markdown: str) -> None:
    original, fixed = revised(markdown)
    assert fixed == original


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("# Send e-mail {#e-mail}\n", "Send email {#e-mail}"),
        ("Send e-mail {: .e-mail #e-mail}\n", "Send email {: .e-mail #e-mail}"),
        ("Send e-mail as $e-mail$ or $$e-mail$$.\n", "Send email as $e-mail$ or $$e-mail$$."),
        ("It costs $5 to e-mail or $6 to call.\n", "It costs $5 to email or $6 to call."),
    ],
)
def test_heading_anchors_and_math_keep_their_words_and_prose_beside_them_is_fixed(
    markdown: str, expected: str
) -> None:
    assert revised(markdown)[1] == expected
