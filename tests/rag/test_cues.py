from __future__ import annotations

import pytest

from blockpass.rag.cues import query_with_cues


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
