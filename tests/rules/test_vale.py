"""Loading Vale style packages: every rule kept, the runnable ones compiled."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.errors import UserInputError
from blockpass.rules import load_vale_package, load_vale_rule

STYLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "styles"


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("style", "total"), [("Google", 31), ("Microsoft", 40), ("write-good", 8)])
def test_each_package_loads_every_rule_and_runs_all_of_them(style: str, total: int) -> None:
    # Every extension point these packages use is implemented, Google.Colons's
    # variable-length look-behind included (read by the `regex` module).
    package = load_vale_package(STYLES / style / style)
    assert package.name == style
    assert len(package.rules) == total
    assert package.unimplemented == ()
    assert all(r.matcher is not None for r in package.implemented)


def test_the_extension_points_the_packages_use_are_all_covered() -> None:
    used = {
        rule.extends
        for style in ("Google", "Microsoft", "write-good")
        for rule in load_vale_package(STYLES / style / style).rules
    }
    assert used == {
        "existence",
        "substitution",
        "occurrence",
        "repetition",
        "capitalization",
        "conditional",
    }


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("extends: sequence\nmessage: x\n", "extension point 'sequence' is not implemented"),
        # Readability runs in the engine now; a metric Vale does not know still goes to the model.
        ("extends: readability\nmessage: x\nmetrics: [Dale-Chall]\n", "'Dale-Chall' is not one"),
        ("extends: capitalization\nmessage: x\nmatch: $title\n", "part-of-speech tagger"),
        ("extends: conditional\nmessage: x\nfirst: '(a'\nsecond: b\n", "does not compile"),
    ],
)
def test_a_rule_the_engine_cannot_run_is_kept_with_the_reason(
    tmp_path: Path, body: str, reason: str
) -> None:
    rule = load_vale_rule(_write(tmp_path / "Mine", "Rule.yml", body))
    assert rule.implemented is False
    assert rule.matcher is None
    assert reason in rule.reason


def test_rule_ids_are_the_style_name_and_the_file_stem() -> None:
    package = load_vale_package(STYLES / "Google" / "Google")
    word_list = package.rule("Google.WordList")
    assert word_list.id == "Google.WordList"
    assert word_list.style == "Google"
    assert word_list.extends == "substitution"
    assert word_list.level == "warning"
    assert word_list.message == "Use '%s' instead of '%s'."
    assert word_list.link == "https://developers.google.com/style/word-list"
    assert word_list.action.name == "replace"
    assert ("above", "preceding") in word_list.swap
    assert word_list.ignorecase is False


def test_every_documented_field_of_an_existence_rule_is_kept() -> None:
    passive = load_vale_package(STYLES / "Google" / "Google").rule("Google.Passive")
    assert passive.raw == (r"\b(am|are|were|being|is|been|was|be)\b\s*",)
    assert passive.tokens[:2] == (r"[\w]+ed", "awoken")
    assert passive.ignorecase is True
    assert passive.nonword is False
    assert passive.scope == ("text",)
    assert passive.level == "suggestion"


def test_rules_without_level_or_scope_get_vales_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path / "Mine", "Bare.yml", "extends: existence\nmessage: m\ntokens: [x]\n")
    rule = load_vale_rule(path)
    assert (rule.id, rule.level, rule.scope) == ("Mine.Bare", "warning", ("text",))


def test_a_rule_of_an_unsupported_extension_point_is_kept_and_marked(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "Mine",
        "Seq.yml",
        "extends: sequence\nmessage: x\nlevel: error\ntokens:\n  - tag: NN\n  - pattern: be\n",
    )
    rule = load_vale_rule(path)
    assert rule.implemented is False
    assert rule.matcher is None
    assert "sequence" in rule.reason
    assert rule.level == "error"
    assert rule.definition["tokens"] == [{"tag": "NN"}, {"pattern": "be"}]


def test_the_raw_yaml_is_kept_for_later_extension_points() -> None:
    acronyms = load_vale_package(STYLES / "Google" / "Google").rule("Google.Acronyms")
    assert acronyms.extends == "conditional"
    assert acronyms.definition["first"] == r"\b([A-Z]{3,5})\b"
    assert "API" in acronyms.exceptions


def test_a_variable_length_look_behind_is_read_by_the_regex_module() -> None:
    colons = load_vale_package(STYLES / "Google" / "Google").rule("Google.Colons")
    assert colons.implemented is True
    alerts = colons.matcher.run("Tone: Concise. A:B: Not", colons)  # type: ignore[union-attr]
    assert [a.match for a in alerts] == [": C"]


def test_a_pattern_no_engine_can_compile_does_not_stop_the_load(tmp_path: Path) -> None:
    _write(tmp_path / "Mine", "Bad.yml", "extends: existence\nmessage: m\ntokens: ['a{2,1}']\n")
    _write(tmp_path / "Mine", "Good.yml", "extends: existence\nmessage: m\ntokens: [b]\n")
    package = load_vale_package(tmp_path / "Mine")
    assert [r.name for r in package.implemented] == ["Good"]
    assert package.rule("Mine.Bad").reason.startswith("pattern does not compile")


def test_malformed_yaml_is_a_user_error_naming_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "Mine", "Broken.yml", "extends: existence\nmessage: 'open\n")
    with pytest.raises(UserInputError, match=r"Broken\.yml: invalid YAML") as caught:
        load_vale_package(tmp_path / "Mine")
    assert "\n" not in str(caught.value)


def test_an_unknown_extension_point_is_a_user_error_naming_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "Mine", "Odd.yml", "extends: grammar\nmessage: m\n")
    with pytest.raises(UserInputError, match=r"Odd\.yml: 'extends' must be one of .*'grammar'"):
        load_vale_package(tmp_path / "Mine")


def test_a_rule_without_a_message_or_with_a_bad_level_is_a_user_error(tmp_path: Path) -> None:
    no_message = _write(tmp_path / "Mine", "A.yml", "extends: existence\ntokens: [x]\n")
    with pytest.raises(UserInputError, match="message"):
        load_vale_rule(no_message)
    bad_level = _write(tmp_path / "Mine", "B.yml", "extends: existence\nmessage: m\nlevel: fatal\n")
    with pytest.raises(UserInputError, match="level"):
        load_vale_rule(bad_level)


def test_a_rule_file_that_is_not_a_mapping_is_a_user_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "Mine", "List.yml", "- extends\n- existence\n")
    with pytest.raises(UserInputError, match="mapping"):
        load_vale_rule(path)


def test_yes_no_on_off_stay_words_as_in_vales_yaml_parser(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "Mine",
        "Words.yml",
        "extends: substitution\nmessage: m\nignorecase: true\nswap:\n  on: upon\n  no: none\n",
    )
    rule = load_vale_rule(path)
    assert rule.swap == (("on", "upon"), ("no", "none"))
    assert rule.ignorecase is True


def test_a_folder_that_does_not_exist_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="not a folder"):
        load_vale_package(tmp_path / "Nope")
