"""Which verdict format a run asks for when ``--verdicts`` is not given."""

from __future__ import annotations

from blockpass.cli_settings import verdict_format
from blockpass.providers.base import model_profile
from blockpass.verdicts import VerdictFormat


def test_hosted_models_are_asked_for_compact_verdicts_by_default() -> None:
    profiles = [model_profile("claude-haiku-4-5"), model_profile("gpt-5-mini")]
    assert verdict_format(None, profiles) is VerdictFormat.COMPACT


def test_a_run_with_the_bundled_local_model_keeps_the_full_format_its_grammars_bound() -> None:
    profiles = [model_profile("smollm2-135m-instruct"), model_profile("claude-sonnet-4-5")]
    assert verdict_format(None, profiles) is VerdictFormat.FULL


def test_a_format_given_on_the_command_line_wins() -> None:
    assert verdict_format("full", [model_profile("claude-sonnet-4-5")]) is VerdictFormat.FULL
    assert verdict_format("compact", []) is VerdictFormat.COMPACT
