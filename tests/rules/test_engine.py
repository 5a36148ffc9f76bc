"""Matching existence and substitution rules the way Vale does."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blockpass.rules import Rule, check_text, load_vale_package, load_vale_rule
from blockpass.rules.engine import format_message, to_sentence
from blockpass.rules.literals import LiteralFilter, PreparedText, literal_filter
from blockpass.rules.patterns import without_captures

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
GOOGLE = load_vale_package(DATA / "styles" / "Google" / "Google")


def _rule(tmp_path: Path, body: str, name: str = "Test") -> Rule:
    folder = tmp_path / "Mine"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yml"
    path.write_text(body, encoding="utf-8")
    return load_vale_rule(path)


def _matches(text: str, *rule_ids: str) -> list[tuple[str, str]]:
    rules = [GOOGLE.rule(r) for r in rule_ids]
    return [(a.rule_id, a.match) for a in check_text(text, rules)]


def test_an_existence_token_matches_only_as_a_whole_word() -> None:
    assert _matches("It will work.", "Google.Will") == [("Google.Will", "will")]
    assert _matches("A willing worker and goodwill.", "Google.Will") == []


def test_ignorecase_decides_whether_other_casings_match(tmp_path: Path) -> None:
    assert _matches("Will it?", "Google.Will") == [("Google.Will", "Will")]
    strict = _rule(tmp_path, "extends: existence\nmessage: '%s'\ntokens: [will]\n")
    assert check_text("Will it? It will.", [strict])[0].match == "will"
    assert len(check_text("Will it? It will.", [strict])) == 1


def test_nonword_tokens_match_inside_words(tmp_path: Path) -> None:
    word = _rule(tmp_path, "extends: existence\nmessage: m\ntokens: [ise]\n", "Word")
    nonword = _rule(tmp_path, "extends: existence\nmessage: m\nnonword: true\ntokens: [ise]\n")
    assert check_text("organise", [word]) == []
    assert [a.match for a in check_text("organise", [nonword])] == ["ise"]


def test_an_existence_alert_carries_the_formatted_message_and_character_offsets() -> None:
    text = "Café — I'll be there at 10PM."
    [alert] = check_text(text, [GOOGLE.rule("Google.AMPM")])
    assert alert.message == "Use 'AM' or 'PM' (preceded by a space)."
    assert (alert.start, alert.end, alert.match) == (24, 28, "10PM")
    assert text[alert.start : alert.end] == "10PM"
    assert alert.level == "error"
    assert alert.replacements == ()


def test_raw_pieces_are_joined_before_the_tokens() -> None:
    [alert] = check_text("That was broken yesterday.", [GOOGLE.rule("Google.Passive")])
    assert alert.match == "was broken"
    assert alert.message == "In general, use active voice instead of passive voice ('was broken')."


def test_a_substitution_gives_the_replacement_and_vales_message() -> None:
    [alert] = check_text("Look at the section above.", [GOOGLE.rule("Google.WordList")])
    assert alert.replacements == ("preceding",)
    assert alert.message == "Use 'preceding' instead of 'above'."
    assert alert.match == "above"


def test_a_replacement_with_alternatives_lists_them_all() -> None:
    [alert] = check_text("I used my cell phone.", [GOOGLE.rule("Google.WordList")])
    assert alert.replacements == ("phone", "mobile phone")
    assert alert.message == "Use 'phone' or 'mobile phone' instead of 'cell phone'."
    [three] = check_text("Then kill the process.", [GOOGLE.rule("Google.WordList")])
    assert three.message == "Use 'stop', 'exit', 'cancel', or 'end' instead of 'kill'."


def test_the_longest_swap_key_wins_where_keys_overlap() -> None:
    alerts = check_text("Ask a developer key holder.", [GOOGLE.rule("Google.WordList")])
    assert [(a.match, a.replacements) for a in alerts] == [("developer key", ("API key",))]


def test_a_match_already_in_the_replacement_form_is_not_reported(tmp_path: Path) -> None:
    rule = _rule(
        tmp_path,
        "extends: substitution\nmessage: \"Use '%s' instead of '%s'.\"\nignorecase: true\n"
        "action:\n  name: replace\nswap:\n  e-?mail: email\n",
    )
    assert [a.match for a in check_text("Send an email or an e-mail.", [rule])] == ["e-mail"]


def test_capture_groups_in_swap_keys_do_not_shift_the_replacements(tmp_path: Path) -> None:
    rule = _rule(
        tmp_path,
        "extends: substitution\nmessage: \"Use '%s' instead of '%s'.\"\n"
        "swap:\n  (a|b)c: first\n  xyz: second\n",
    )
    alerts = check_text("ac xyz", [rule])
    assert [(a.match, a.replacements) for a in alerts] == [("ac", ("first",)), ("xyz", ("second",))]


def test_exceptions_suppress_matches_that_contain_them_as_words(tmp_path: Path) -> None:
    rule = _rule(
        tmp_path,
        "extends: existence\nmessage: m\ntokens: ['[A-Z]{3,}']\n"
        "exceptions:\n  - API\n  - (?i)sdk\n  - New York\n",
    )
    text = "The API, the SDK, the USB port and NEW YORK."
    assert [a.match for a in check_text(text, [rule])] == ["USB"]


def test_exceptions_are_case_sensitive_unless_marked(tmp_path: Path) -> None:
    rule = _rule(
        tmp_path,
        "extends: existence\nmessage: m\nignorecase: true\ntokens: [api]\nexceptions: [API]\n",
    )
    assert [a.match for a in check_text("API and api", [rule])] == ["api"]


def test_unimplemented_rules_are_skipped_and_alerts_come_sorted(tmp_path: Path) -> None:
    sequence = _rule(tmp_path, "extends: sequence\nmessage: '%s'\n", "Seq")
    text = "We will organise this. TL;DR: the API is OK."
    alerts = check_text(text, [*GOOGLE.rules, sequence])
    assert [a.start for a in alerts] == sorted(a.start for a in alerts)
    assert {a.rule_id for a in alerts} >= {"Google.We", "Google.Will", "Google.Spelling"}
    assert sequence.implemented is False
    assert "Mine.Seq" not in {a.rule_id for a in alerts}


def test_messages_are_filled_like_vales_format_message() -> None:
    assert format_message("Use '%s' instead of '%s'.", "a", "b") == "Use 'a' instead of 'b'."
    assert format_message("'%s' and '%s'", "only") == "'only' and ''"
    assert format_message("100%% sure of '%s'", "x", "extra") == "100% sure of 'x'"
    assert to_sentence(["a"], "or") == "'a'"
    assert to_sentence(["a", "b", "c"], "or") == "'a', 'b', or 'c'"


def test_the_literal_filter_knows_what_every_match_must_contain() -> None:
    spelling = literal_filter(r"\b(?:colou?r|centre)\b")
    assert [(dict(g.by_word), g.substrings) for g in spelling.groups] == [
        ({"centre": ("centre",)}, ("colo",))
    ]
    assert spelling.might_match(PreparedText.of("The COLOUR of it"))
    assert spelling.might_match(PreparedText.of("in the centre."))
    assert not spelling.might_match(PreparedText.of("decentred"))
    oxford = literal_filter(r"(?:[^,]+,){1,}\s\w+\s(?:and|or)")
    assert [g.substrings for g in oxford.groups] == [(",",), ("and", "or")]
    assert literal_filter(r"\d+|x").groups == ()


def test_capturing_groups_are_dropped_only_where_that_changes_nothing() -> None:
    assert without_captures(r"[(]a(b)\(c\)") == r"[(]a(?:b)\(c\)"
    assert without_captures(r"(a)\1") == r"(a)\1"
    assert without_captures(r"(?P<name>a)(b)") == r"(?P<name>a)(?:b)"


_PACKAGES = [
    load_vale_package(DATA / "styles" / s / s) for s in ("Google", "Microsoft", "write-good")
]
# Existence and substitution rules scan with a literal pre-check; the other points do not.
_RULES = [r for p in _PACKAGES for r in p.implemented if r.extends in ("existence", "substitution")]
# Text made of the rules' own words, cased any way, between separators that do and do not
# end a word: the shapes where a literal filter could wrongly skip a block.
_WORDS = sorted(
    {
        w
        for r in _RULES
        for t in (*r.tokens, *(k for k, _ in r.swap))
        for w in re.findall(r"[A-Za-z']+", t)
    }
)
_PIECES = st.one_of(
    st.sampled_from(_WORDS),
    st.sampled_from(_WORDS).map(str.upper),
    st.sampled_from(_WORDS).map(str.capitalize),
    st.sampled_from(
        [" ", "  ", ", ", ". ", "! ", "; ", "-", " — ", "(", ")", '"', "’", "\n", "..."]
    ),
    st.text(alphabet="aeiouslnrtIPMA0123456789.,'()-–— İſK\u00e9", max_size=6),
)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_the_literal_precheck_never_hides_a_match(text: str) -> None:
    prepared = PreparedText.of(text)
    for rule in _RULES:
        scanner = rule.matcher.scanner  # type: ignore[union-attr]
        unfiltered = replace(scanner, literals=LiteralFilter())
        filtered = [m.span() for m in scanner.finditer(text, prepared)]
        assert filtered == [m.span() for m in unfiltered.finditer(text, None)], rule.id


@pytest.mark.slow
def test_the_literal_precheck_agrees_with_the_plain_regex_on_the_rust_book() -> None:
    paragraphs = [
        block
        for chapter in sorted((DATA / "corpora" / "rust-book").glob("ch0[1-4]*.md"))
        for block in re.split(r"\n\s*\n", chapter.read_text(encoding="utf-8"))
    ]
    assert len(paragraphs) > 300
    for rule in [r for r in GOOGLE.implemented if r.extends in ("existence", "substitution")]:
        scanner = rule.matcher.scanner  # type: ignore[union-attr]
        unfiltered = replace(scanner, literals=LiteralFilter())
        for text in paragraphs:
            expected = [m.span() for m in unfiltered.finditer(text, None)]
            assert [m.span() for m in scanner.finditer(text, PreparedText.of(text))] == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_empty_and_blank_text_give_no_alerts(text: str) -> None:
    assert check_text(text, GOOGLE.rules) == []
