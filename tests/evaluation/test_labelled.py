from __future__ import annotations

from pathlib import Path

from blockpass.evaluation.labelled import load_suite, suite_guide
from blockpass.rules import check_text, load_vale_package


def test_a_fixture_block_expects_the_rules_the_feature_file_lists_for_its_lines(
    shared_data: Path,
) -> None:
    suite = load_suite(shared_data / "styles" / "Google")
    cases = {case.text: case for case in suite.cases}
    # rules.feature: test.md:3:14 and test.md:5:18 are Google.AMPM; line 7 is clean.
    assert cases["It starts at 10 p.m. tonight."].expected == {"Google.AMPM"}
    assert cases["A sentence about 5 ampoules should not be flagged."].clean
    # The Terms fixture's .vale.ini turns on five rules: only they are judged there.
    terms = next(case for case in suite.cases if case.id.startswith("Google-Terms-"))
    assert terms.scope == {
        "Google.Slang", "Google.Will", "Google.FirstPerson", "Google.Spelling",
        "Google.WordList",
    }  # fmt: skip


def test_every_alert_of_a_package_feature_file_lands_on_one_block(shared_data: Path) -> None:
    suite = load_suite(shared_data / "styles" / "write-good")
    feature = (shared_data / "styles/write-good/features/rules.feature").read_text()
    listed = {
        (line.split(":")[0].strip(), line.split(":")[1], line.split(":")[3])
        for line in feature.splitlines()
        if line.strip().startswith("test.md:")
    }
    rules_listed = {rule for _, _, rule in listed}
    assert rules_listed <= {rule for case in suite.cases for rule in case.expected}


def test_redhat_lines_expect_their_folder_rule_when_invalid_and_nothing_when_valid(
    shared_data: Path,
) -> None:
    suite = load_suite(shared_data / "styles" / "RedHat")
    invalid = [case for case in suite.cases if case.source == "invalid"]
    valid = [case for case in suite.cases if case.source == "valid"]
    assert invalid
    assert valid
    assert all(case.expected == case.scope and len(case.scope) == 1 for case in invalid)
    assert all(case.clean and len(case.scope) == 1 for case in valid)
    assert not any(case.text.startswith("//") or not case.text.strip() for case in suite.cases)


def test_an_injected_violation_is_a_reversed_substitution_the_engine_confirms(
    shared_data: Path,
) -> None:
    chapters = sorted((shared_data / "corpora" / "rust-book").glob("ch0*.md"))
    suite = load_suite(shared_data / "styles" / "Microsoft", corpus=chapters, injected=10)
    injected = [case for case in suite.cases if case.source == "injected"]
    clean = [case for case in suite.cases if case.source == "clean"]
    assert injected
    assert clean
    package = load_vale_package(suite.rules_dir)
    substitutions = [rule for rule in package.rules if rule.extends == "substitution"]
    for case in injected:
        assert case.fixed is not None
        assert case.fixed != case.text
        (rule,) = case.expected
        assert {alert.rule_id for alert in check_text(case.text, substitutions)} == {rule}
        assert not check_text(case.fixed, substitutions)
    for case in clean:
        assert case.fixed == case.text
        assert not check_text(case.text, substitutions)
    # Drawn with the seed: the same every time.
    again = load_suite(shared_data / "styles" / "Microsoft", corpus=chapters, injected=10)
    assert again.cases == suite.cases


def test_a_suite_guide_has_one_section_per_rule_headed_by_its_id(shared_data: Path) -> None:
    suite = load_suite(shared_data / "styles" / "write-good")
    guide = suite_guide(suite)
    headings = {line[3:] for line in guide.splitlines() if line.startswith("## ")}
    assert headings == suite.rule_ids
