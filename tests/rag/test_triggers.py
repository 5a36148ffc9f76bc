from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from blockpass.rag import RuleUnit, Triggers, UnitKind, guide_units
from blockpass.rag.triggers import TriggerMatcher, query_with_cues, term_tokens


def unit(name: str, triggers: Triggers) -> RuleUnit:
    return RuleUnit(
        id=name, kind=UnitKind.GLOSSARY_ENTRY, title=name, text=name, source="g.adoc",
        anchor=name, triggers=triggers,
    )  # fmt: skip


UNITS = [
    unit("amq", Triggers(terms=("AMQ", "A-MQ", "Red Hat AMQ"))),
    unit("ampersand", Triggers(terms=("ampersand", "&"))),
    unit("dont", Triggers(terms=("don't",))),
    unit("will", Triggers(pattern=r"(?i)\b(?:will)\b")),
    unit("broken", Triggers(pattern=r"(?<=(unclosed")),
    unit("nothing", Triggers()),
]


def test_a_term_fires_as_whole_words_in_any_case_and_longer_matches_weigh_more() -> None:
    matcher = TriggerMatcher(UNITS)
    assert matcher.fired("Install red hat amq now") == {0: len("redhatamq")}
    assert matcher.fired("the A-MQ broker") == {0: len("a-mq")}
    assert matcher.fired("AMQP and camq are other words") == {}


def test_punctuation_terms_and_typographic_apostrophes_fire() -> None:
    matcher = TriggerMatcher(UNITS)
    assert set(matcher.fired("Tom & Jerry")) == {1}
    assert set(matcher.fired("Don’t do that")) == {2}


def test_a_pattern_fires_as_a_regular_expression_and_a_broken_one_never() -> None:
    matcher = TriggerMatcher(UNITS)
    assert set(matcher.fired("It WILL work (unclosed")) == {3}
    assert matcher.fired("") == {}


def test_text_and_terms_are_cut_into_the_same_tokens() -> None:
    assert term_tokens("Red\u00a0Hat’s A-MQ") == ("red", "hat", "'", "s", "a", "-", "mq")


RESPELLED = [
    unit("operator-hub", Triggers(terms=("OperatorHub",))),
    unit("hub", Triggers(terms=("hub",))),
    unit("z-stream", Triggers(terms=("z-stream",))),
    unit("softcopy", Triggers(terms=("softcopy",))),
    unit("hard-copy", Triggers(terms=("hard copy",))),
    unit("setup", Triggers(terms=("setup",))),
    unit("set-up", Triggers(terms=("set up",))),
]
HUB, Z_STREAM, SOFTCOPY, HARD_COPY, SETUP, SET_UP = 1, 2, 3, 4, 5, 6


@pytest.mark.parametrize(
    ("text", "fired"),
    [
        ("Open the Operator hub", {0, HUB}),
        ("the operator-hub page", {0, HUB}),
        ("operator_hub", {0}),
        ("Operator - - hub", {0, HUB}),
        ("Z Stream releases", {Z_STREAM}),
        ("a z_stream", {Z_STREAM}),
        ("keep a soft copy", {SOFTCOPY}),
        ("a Soft-Copy", {SOFTCOPY}),
        ("keep a hardcopy", {HARD_COPY}),
    ],
)
def test_a_term_fires_where_the_text_respells_it_with_other_spacing_hyphens_underscores_or_case(
    text: str, fired: set[int]
) -> None:
    assert set(TriggerMatcher(RESPELLED).fired(text)) == fired


def test_a_respelled_term_weighs_what_the_term_does_however_the_text_spaces_it() -> None:
    matcher = TriggerMatcher(RESPELLED)
    assert matcher.fired("Operator hub") == {0: len("operatorhub"), HUB: len("hub")}
    assert matcher.fired("Operator----hub")[0] == matcher.fired("OperatorHub")[0]
    assert matcher.fired("Z Stream") == matcher.fired("z-stream") == {Z_STREAM: len("z-stream")}


def test_text_spelled_as_one_entrys_term_fires_that_entry_and_not_a_respelled_other() -> None:
    matcher = TriggerMatcher(RESPELLED)
    assert set(matcher.fired("Set up the Z Stream")) == {SET_UP, Z_STREAM}
    assert set(matcher.fired("the setup of operator hub")) == {SETUP, 0, HUB}


def test_a_respelling_is_never_joined_across_other_punctuation() -> None:
    matcher = TriggerMatcher(RESPELLED)
    assert set(matcher.fired("Operator. Hub, operator/hub, operator,hub")) == {HUB}
    assert set(matcher.fired("soft, copy; z. stream; and soft copy")) == {SOFTCOPY}


def test_short_digit_only_and_ordinary_phrase_runs_never_fire_by_respelling() -> None:
    units = [
        unit("in-memory", Triggers(terms=("in-memory",))),
        unit("pop-up", Triggers(terms=("pop-up",))),
        unit("atypical", Triggers(terms=("atypical",))),
        unit("digits", Triggers(terms=("12345",))),
        unit("abc", Triggers(terms=("a-b-c",))),
    ]
    matcher = TriggerMatcher(units)
    assert set(matcher.fired("an in_memory cache, a popup, an atypical one")) == {0, 1, 2}
    ordinary = [
        "stored in memory",  # a prepositional phrase, not "in-memory"
        "In Memory",
        "menus pop up",  # a phrasal verb, not "pop-up"
        "a typical day",  # an article, not "atypical"
        "1 2 3 4 5",  # digits only
        "A B C",  # shorter than 5 letters
        "i n m e m o r y",  # more words than the term has, plus one
    ]
    for text in ordinary:
        assert matcher.fired(text) == {}, text


def test_hostile_texts_fire_only_what_they_hold() -> None:
    matcher = TriggerMatcher(RESPELLED)
    assert matcher.fired("-" * 200_000) == {}
    assert matcher.fired("z" + "-" * 100_000 + "stream") == {Z_STREAM: len("z-stream")}
    assert matcher.fired("a" * 1_000_000 + " operator hub") == {0: 11, HUB: 3}
    assert matcher.fired(" ".join("operatorhub " * 1000)) == {}
    assert matcher.fired("\u0301" * 1000 + "\U0001f600 \x00") == {}
    unicode = TriggerMatcher([unit("strasse", Triggers(terms=("Straße-Ödland",)))])
    assert set(unicode.fired("die STRASSE ÖDLAND")) == {0}


_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=5, max_size=9)
_JOINS = st.sampled_from([" ", "-", "_", "", " - ", "\u2010"])
_CASES = st.lists(st.booleans(), min_size=48, max_size=48)  # longer than any text


def _in_cases(text: str, upper: list[bool]) -> str:
    return "".join(c.upper() if up else c for c, up in zip(text, upper, strict=False))


@given(
    words=st.lists(_WORDS, min_size=2, max_size=4),
    joins=st.lists(_JOINS, min_size=3, max_size=3),
    upper=_CASES,
    term_join=st.sampled_from([" ", "-"]),
)
def test_any_hyphen_space_underscore_or_case_respelling_of_a_term_fires_it(
    words: list[str], joins: list[str], upper: list[bool], term_join: str
) -> None:
    matcher = TriggerMatcher([unit("term", Triggers(terms=(term_join.join(words),)))])
    text = words[0] + "".join(join + word for join, word in zip(joins, words[1:], strict=False))
    assert set(matcher.fired(f"see {_in_cases(text, upper)}, now")) == {0}


@given(
    # without vowels: no piece is a preposition or an article ("a tonce" is an ordinary phrase)
    word=st.text(alphabet="bcdfghjklmnpqrstvwxyz", min_size=6, max_size=20),
    cut=st.integers(min_value=1, max_value=19),
    join=_JOINS,
    upper=_CASES,
)
def test_a_one_word_term_written_as_two_words_fires_it(
    word: str, cut: int, join: str, upper: list[bool]
) -> None:
    cut = min(cut, len(word) - 1)
    matcher = TriggerMatcher([unit("term", Triggers(terms=(word,)))])
    text = _in_cases(word[:cut] + join + word[cut:], upper)
    assert set(matcher.fired(f"see {text}, now")) == {0}


def test_red_hat_entries_fire_on_the_respellings_the_glossary_exists_to_catch(
    shared_data: Path,
) -> None:
    units = guide_units(shared_data / "guides" / "redhat-supplementary-style-guide")
    matcher = TriggerMatcher(units)

    def fired(text: str) -> set[str]:
        return {units[position].anchor for position in matcher.fired(text)}

    assert "operator-hub" in fired("Install it from the Operator hub.")
    assert "operator-hub" in fired("Open Operator Hub")
    assert "z-stream" in fired("A Z Stream release") & fired("the Z stream")
    assert "softcopy" in fired("Keep a soft copy of the file.")
    assert "source-navigator" in fired("Open Source Navigator.")


@pytest.mark.parametrize(
    "text",
    ["We aren't ready.", "It’s done.", "They'll see.", "what's next", "I'd say", "you've"],
)
def test_a_contraction_adds_the_word_contractions(text: str) -> None:
    assert query_with_cues(text) == f"{text}\ncontractions"


@pytest.mark.parametrize(
    "text",
    ["It was decided.", "The file is quickly written", "It was built", "They were sent home"],
)
def test_a_passive_construction_adds_passive_voice(text: str) -> None:
    assert query_with_cues(text) == f"{text}\npassive voice"


@pytest.mark.parametrize(
    "text",
    ["The cluster's nodes", "It is often late", "The door is open", "Plain prose here.", ""],
)
def test_a_text_without_either_construction_is_left_as_it_is(text: str) -> None:
    assert query_with_cues(text) == text


def test_both_cues_are_added_once_each() -> None:
    text = "It wasn't decided, and it wasn't built."
    assert query_with_cues(text) == f"{text}\ncontractions\npassive voice"
