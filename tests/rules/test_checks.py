"""Occurrence, repetition, conditional, consistency and capitalization rules, and sentence
boundaries."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.cli import main
from blockpass.rules import LintState, Rule, check_text, load_vale_package, load_vale_rule
from blockpass.rules.capitalization import go_title
from blockpass.rules.sentences import split_sentences

STYLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "styles"
GOOGLE = load_vale_package(STYLES / "Google" / "Google")
MICROSOFT = load_vale_package(STYLES / "Microsoft" / "Microsoft")
WRITE_GOOD = load_vale_package(STYLES / "write-good" / "write-good")


def _rule(tmp_path: Path, body: str) -> Rule:
    folder = tmp_path / "Mine"
    folder.mkdir(exist_ok=True)
    path = folder / "Test.yml"
    path.write_text(body, encoding="utf-8")
    rule = load_vale_rule(path)
    assert rule.implemented, rule.reason
    return rule


def _sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in split_sentences(text)]


def test_sentences_end_at_terminal_punctuation_but_not_after_abbreviations() -> None:
    assert _sentences("I like it.  You do too! Really? yes.") == [
        "I like it.",
        "You do too!",
        "Really?",
        "yes.",
    ]
    assert _sentences("The N.B.A. has a team. See e.g. this one.") == [
        "The N.B.A. has a team.",
        "See e.g. this one.",
    ]
    assert _sentences("Ask Dr. Smith. Then go.") == ["Ask Dr. Smith.", "Then go."]
    assert _sentences("Hmm ... I guess. Wait... what") == ["Hmm ...", "I guess.", "Wait... what"]
    assert _sentences('He said "stop." Then left.') == ['He said "stop."', "Then left."]
    assert _sentences("   ") == []


def test_an_occurrence_rule_alerts_once_at_the_first_match_with_the_raw_message() -> None:
    length = MICROSOFT.rule("Microsoft.SentenceLength")
    long_sentence = " ".join(["word"] * 31) + "."
    [alert] = check_text(long_sentence, [length])
    assert (alert.start, alert.end, alert.match) == (0, 4, "word")
    assert alert.message == "Try to keep sentences short (< 30 words)."
    assert check_text(" ".join(["word"] * 30) + ".", [length]) == []


def test_an_occurrence_minimum_alerts_even_when_nothing_matches(tmp_path: Path) -> None:
    rule = _rule(tmp_path, "extends: occurrence\nmessage: 'Needs %s'\nmin: 2\ntoken: x\n")
    [alert] = check_text("no such letter", [rule])
    assert (alert.start, alert.end, alert.message) == (0, 0, "Needs %s")
    assert check_text("x and x", [rule]) == []


def test_a_repetition_spans_the_pair_and_names_the_word() -> None:
    illusions = WRITE_GOOD.rule("write-good.Illusions")
    [alert] = check_text("the the book store is over there.", [illusions])
    assert (alert.start, alert.end, alert.match) == (0, 7, "the the")
    assert alert.message == "'the' is repeated!"


def test_a_repetition_needs_letters_one_sentence_and_the_same_case(tmp_path: Path) -> None:
    illusions = WRITE_GOOD.rule("write-good.Illusions")
    assert check_text("// // and 10 10", [illusions]) == []
    assert check_text("the *** the", [illusions]) == []  # a masked code span between
    assert check_text("The the", [illusions]) == []
    folding = _rule(
        tmp_path,
        "extends: repetition\nmessage: '%s'\nignorecase: true\nalpha: true\ntokens: ['[^\\s.]+']\n",
    )
    assert [a.match for a in check_text("The the end.", [folding])] == ["The the"]
    assert check_text("I know that. That is it.", [folding]) == []


def test_a_conditional_term_is_fine_once_defined_earlier_in_the_document() -> None:
    acronyms = MICROSOFT.rule("Microsoft.Acronyms")
    state = LintState()
    defined = "The World Health Organization (WHO) is an agency."
    assert check_text(defined, [acronyms], state=state) == []
    later = check_text("WHO is defined, DAFB is not, FAQ is an exception.", [acronyms], state=state)
    assert [(a.match, a.message) for a in later] == [("DAFB", "'DAFB' has no definition.")]
    # Without the earlier text, WHO is undefined too.
    fresh = check_text("WHO is defined, DAFB is not.", [acronyms])
    assert [a.match for a in fresh] == ["WHO", "DAFB"]


def test_a_conditional_without_a_group_only_needs_second_somewhere_in_the_scope(
    tmp_path: Path,
) -> None:
    rule = _rule(tmp_path, "extends: conditional\nmessage: '%s'\nfirst: foo\nsecond: bar\n")
    assert [a.match for a in check_text("foo and foo", [rule])] == ["foo", "foo"]
    assert check_text("foo, then bar", [rule]) == []


@pytest.mark.parametrize(
    ("heading", "google", "microsoft"),
    [
        ("This is a heading", True, True),
        ("This is a Heading", False, False),
        ("Test: Modern documentation management", True, True),
        ("Test: modern documentation management", False, False),  # ':' is an indicator
        ("Accepting a JSON response", True, False),  # JSON is one of Google's exceptions...
        ("Using gRPC", True, False),  # so is gRPC
        ("This vs. heading", True, True),
        ("8. Do step eight", True, True),
        ("Top-level entities", True, True),
        ("Find the thief: Introduction", True, True),
        ("the lower-case start", False, False),
    ],
)
def test_sentence_case_headings_are_judged_as_vale_judges_them(
    heading: str, google: bool, microsoft: bool
) -> None:
    assert (check_text(heading, [GOOGLE.rule("Google.Headings")]) == []) is google
    assert (check_text(heading, [MICROSOFT.rule("Microsoft.Headings")]) == []) is microsoft


def test_a_capitalization_alert_covers_the_scope_and_can_suggest_the_sentence_case(
    tmp_path: Path,
) -> None:
    rule = _rule(
        tmp_path,
        "extends: capitalization\nmessage: \"'%s' should be '%s'.\"\nmatch: $sentence\n"
        "action:\n  name: replace\n",
    )
    [alert] = check_text("Getting Started Now", [rule])
    assert (alert.start, alert.end) == (0, len("Getting Started Now"))
    assert alert.message == "'Getting Started Now' should be 'Getting started now'."
    assert alert.replacements == ("Getting started now",)


def test_lower_upper_and_pattern_capitalization(tmp_path: Path) -> None:
    upper = _rule(tmp_path, "extends: capitalization\nmessage: m\nmatch: $upper\n")
    assert check_text("LOUD", [upper]) == []
    assert len(check_text("Quiet", [upper])) == 1
    pattern = _rule(tmp_path, "extends: capitalization\nmessage: m\nmatch: '^[A-Z]'\n")
    assert check_text("Starts well", [pattern]) == []
    assert len(check_text("starts badly", [pattern])) == 1


def test_go_title_capitalises_after_separators_as_go_does() -> None:
    assert go_title("top-level it's ok_now 3d") == "Top-Level It'S Ok_now 3d"


# Vale's documentation of the consistency extension point (vale.sh, "consistency"): its rule,
# its example sentence and the one alert it shows Vale printing for it.
VALE_CONSISTENCY_RULE = """extends: consistency
message: "Inconsistent spelling of '%s'."
level: error
ignorecase: true

# We only want one of these to appear.
either:
  advisor: adviser
  centre: center
"""


def _lint_vale(tmp_path: Path, rule: str, markdown: str, capsys: pytest.CaptureFixture[str]) -> str:
    style = tmp_path / "styles" / "style"
    style.mkdir(parents=True)
    (style / "Consistency.yml").write_text(rule, encoding="utf-8")
    document = tmp_path / "test.md"
    document.write_text(markdown, encoding="utf-8")
    main(["lint", str(document), "--styles", str(style), "--format", "vale"])
    return capsys.readouterr().out.replace(str(tmp_path) + "/", "")


def test_a_consistency_rule_flags_the_second_spelling_as_in_vales_documentation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _lint_vale(
        tmp_path,
        VALE_CONSISTENCY_RULE,
        "Ask your advisor. The centre has an adviser too.\n",
        capsys,
    )
    assert out.splitlines() == [
        "test.md:1:37:style.Consistency:Inconsistent spelling of 'adviser'."
    ]


def test_consistency_remembers_spellings_across_the_document_and_alerts_once_per_scope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    markdown = (
        "Ask your advisor.\n\n"  # one spelling so far: fine
        "The ADVISER met the advisor and the adviser.\n\n"  # both seen: one alert, at the
        # first occurrence of the scope's last match ("adviser", found as "adviser")
        "The centre is open.\n\n"  # another pair, one spelling: fine
        "Advisor again.\n"  # both spellings were seen earlier: every later use alerts
    )
    out = _lint_vale(tmp_path, VALE_CONSISTENCY_RULE, markdown, capsys)
    assert out.splitlines() == [
        "test.md:3:37:style.Consistency:Inconsistent spelling of 'adviser'.",
        "test.md:7:1:style.Consistency:Inconsistent spelling of 'Advisor'.",
    ]


def test_a_consistency_rule_is_case_sensitive_and_word_bounded_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    rule = _rule(tmp_path, "extends: consistency\nmessage: '%s'\neither:\n  colour: color\n")
    assert check_text("Colour and color, colours and colors.", [rule]) == []
    nonword = _rule(
        tmp_path,
        "extends: consistency\nmessage: '%s'\nnonword: true\neither:\n  colour: color\n",
    )
    assert [a.match for a in check_text("colours and colors", [nonword])] == ["color"]
