from __future__ import annotations

import pytest

from blockpass.rag import RuleUnit, Triggers, UnitKind
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
