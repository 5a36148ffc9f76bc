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


def test_unimplemented_rules_are_skipped_and_alerts_come_sorted() -> None:
    text = "We will organise this. TL;DR: the API is OK."
    alerts = check_text(text, GOOGLE.rules)
    assert [a.start for a in alerts] == sorted(a.start for a in alerts)
    assert {a.rule_id for a in alerts} >= {"Google.We", "Google.Will", "Google.Spelling"}
    assert not {a.rule_id for a in alerts} & {r.id for r in GOOGLE.unimplemented}


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
_RULES = [r for p in _PACKAGES for r in p.implemented]
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


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_the_literal_precheck_never_hides_a_match(text: str) -> None:
    prepared = PreparedText.of(text)
    for rule in _RULES:
        scanner = rule.matcher.scanner  # type: ignore[union-attr]
        unfiltered = replace(scanner, literals=LiteralFilter())
        filtered = [m.span() for m in scanner.finditer(text, prepared)]
        assert filtered == [m.span() for m in unfiltered.finditer(text, None)], rule.id


def test_the_literal_precheck_agrees_with_the_plain_regex_on_the_rust_book() -> None:
    paragraphs = [
        block
        for chapter in sorted((DATA / "corpora" / "rust-book").glob("ch0[1-4]*.md"))
        for block in re.split(r"\n\s*\n", chapter.read_text(encoding="utf-8"))
    ]
    assert len(paragraphs) > 300
    for rule in GOOGLE.implemented:
        scanner = rule.matcher.scanner  # type: ignore[union-attr]
        unfiltered = replace(scanner, literals=LiteralFilter())
        for text in paragraphs:
            expected = [m.span() for m in unfiltered.finditer(text, None)]
            assert [m.span() for m in scanner.finditer(text, PreparedText.of(text))] == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_empty_and_blank_text_give_no_alerts(text: str) -> None:
    assert check_text(text, GOOGLE.rules) == []


# The packages' own acceptance test: `features/rules.feature` lists the alerts Vale gives on
# `fixtures/<Scenario>/test.md` with the rules that folder's `.vale.ini` turns on. Vale reads
# the Markdown first (scopes, HTML rendering); here each blank-line-separated block of the
# raw file is checked as it stands, and offsets are turned back into line:column.

_Alert = tuple[str, int, int, str]  # rule id, line, column (in characters, from 1), message


def _expected_alerts(style: str) -> dict[str, list[_Alert]]:
    scenarios: dict[str, list[_Alert]] = {}
    current = ""
    feature = DATA / "styles" / style / "features" / "rules.feature"
    for line in feature.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if test := re.match(r'When I test "(.+)"', stripped):
            current = test.group(1)
            scenarios[current] = []
        elif alert := re.match(r"test\.md:(\d+):(\d+):([\w.-]+):(.*)$", stripped):
            row, col, rule_id, message = alert.groups()
            scenarios[current].append((rule_id, int(row), int(col), message))
    return scenarios


def _found_alerts(style: str, scenario: str, rules: list[Rule]) -> list[_Alert]:
    text = (DATA / "styles" / style / "fixtures" / scenario / "test.md").read_text("utf-8")
    found = []
    for block in re.finditer(r"(?:[^\n]*\S[^\n]*(?:\n|$))+", text):
        for alert in check_text(block.group().rstrip("\n"), rules):
            offset = block.start() + alert.start
            line_start = text.rfind("\n", 0, offset) + 1
            line = text.count("\n", 0, offset) + 1
            found.append((alert.rule_id, line, offset - line_start + 1, alert.message))
    return found


def _conformance(style: str) -> tuple[set[_Alert], set[_Alert]]:
    package = load_vale_package(DATA / "styles" / style / style)
    expected: set[_Alert] = set()
    found: set[_Alert] = set()
    for scenario, alerts in _expected_alerts(style).items():
        ini = (DATA / "styles" / style / "fixtures" / scenario / ".vale.ini").read_text("utf-8")
        enabled = set(re.findall(r"^\s*([\w-]+\.[\w-]+)\s*=\s*YES", ini, re.MULTILINE))
        rules = [r for r in package.implemented if r.id in enabled]
        ours = {r.id for r in rules}
        expected |= {a for a in alerts if a[0] in ours}
        found |= set(_found_alerts(style, scenario, rules))
    return expected, found


def test_the_google_fixtures_give_the_alerts_vale_gives() -> None:
    expected, found = _conformance("Google")
    exact = len(expected & found)
    at_place = len({a[:3] for a in expected} & {a[:3] for a in found})
    print(f"\nGoogle rules.feature: {exact}/{len(expected)} exact, {at_place} at the same place")
    assert len(expected) >= 45
    # Vale renders Markdown to HTML before matching, which collapses runs of spaces (so its
    # message quotes 'y. T') and drops link targets (so it never sees the image's parentheses).
    assert expected - found == {("Google.Spacing", 37, 21, "'y. T' should have one space.")}
    assert found - expected == {
        ("Google.Spacing", 37, 21, "'y.  T' should have one space."),
        ("Google.Parens", 31, 12, "Use parentheses judiciously."),
    }


@pytest.mark.parametrize("style", ["Microsoft", "write-good"])
def test_the_other_packages_fixtures_are_mostly_reproduced(style: str) -> None:
    # Informational beyond the floor: Microsoft's file was made by a Vale that capitalised
    # replacements ('Aren't' for 'Are not'), which Vale now does only with `capitalize: true`
    # (Google's file shows the current behaviour), and write-good's omits a 'fairly' that its
    # own Weasel rule lists. So places are compared, and messages only reported.
    expected, found = _conformance(style)
    places = {a[:3] for a in expected}
    at_place = len(places & {a[:3] for a in found})
    exact = len(expected & found)
    print(f"\n{style} rules.feature: {exact}/{len(expected)} exact, {at_place} at the same place")
    assert at_place / len(places) >= 0.95
