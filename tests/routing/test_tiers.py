"""Tiers as configuration, and the hostile ways to write them."""

from __future__ import annotations

import pytest

from blockpass.errors import UserInputError
from blockpass.routing import parse_tiers


def test_tiers_are_models_of_the_runs_vendor_weakest_first() -> None:
    tiers = parse_tiers("sandbox", "claude-haiku-4-5, claude-sonnet-4-5")

    assert [(tier.vendor, tier.profile.id) for tier in tiers] == [
        ("sandbox", "claude-haiku-4-5"),
        ("sandbox", "claude-sonnet-4-5"),
    ]


def test_a_tier_may_name_its_own_vendor_so_a_local_model_can_be_the_cheapest() -> None:
    tiers = parse_tiers("openai", "local:smollm2-135m-instruct,gpt-5-mini")

    assert [(tier.vendor, tier.profile.id) for tier in tiers] == [
        ("local", "smollm2-135m-instruct"),
        ("openai", "gpt-5-mini"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("claude-haiku-4-5,claude-opus-9", "unknown model 'claude-opus-9'"),
        ("claude-sonnet-4-5", "routing needs two tiers or more"),
        ("", "name at least two models"),
        ("claude-haiku-4-5,,claude-sonnet-4-5", "name at least two models"),
        ("claude-haiku-4-5,claude-haiku-4-5", "a model is named twice"),
        ("claude-haiku-4-5,nowhere:x", "not a connection: 'nowhere:x'"),
    ],
)
def test_unknown_repeated_or_too_few_tiers_are_refused_with_one_clear_message(
    text: str, message: str
) -> None:
    with pytest.raises(UserInputError, match=message):
        parse_tiers("sandbox", text)
