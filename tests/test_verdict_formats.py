"""The compact verdict format against the full one, on the same responder: the same findings
reach ``results.jsonl`` for a fraction of the output tokens."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import pytest

from blockpass.pipeline import JobOutcome, JobSpec, run_job
from blockpass.prices import job_prices
from blockpass.providers import RehearsalSettings, open_connection, parse_connection
from blockpass.verdicts import VerdictFormat

CHAPTERS = ("ch04-01-what-is-ownership.md", "ch08-02-strings.md", "ch10-02-traits.md")


def _run(spec: JobSpec, rules: Path) -> JobOutcome:
    connection = parse_connection("sandbox:claude-sonnet-4-5")
    prices = job_prices(connection.profile.id, connection.profile.provider)

    async def run() -> JobOutcome:
        async with open_connection(
            connection, rehearsal=RehearsalSettings(rules=rules)
        ) as provider:
            return await run_job(spec, provider, prices)

    return anyio.run(run)


def _results(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {line["block_id"]: line for line in map(json.loads, lines)}


def _finding(result: dict[str, Any]) -> tuple[object, ...]:
    """What a result finds: its verdict, its edits, and the rule each note is about."""
    return (
        result["outcome"],
        result.get("verdict"),
        tuple((edit["find"], edit["replace"], edit["rule"]) for edit in result.get("edits", [])),
        tuple(sorted(note.split(":")[0] for note in result.get("notes", []))),
    )


def _both_formats(
    tmp_path: Path, shared_data: Path, google_rules: Path, **options: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], int, int]:
    book = shared_data / "corpora" / "rust-book"
    base = JobSpec(
        inputs=[book / chapter for chapter in CHAPTERS],
        guide=shared_data / "guides" / "18f-content-guide",
        out_dir=tmp_path / "full",
        **options,
    )
    full = _run(base, google_rules)
    compact = _run(
        replace(base, out_dir=tmp_path / "compact", verdicts=VerdictFormat.COMPACT), google_rules
    )
    return (
        _results(tmp_path / "full"),
        _results(tmp_path / "compact"),
        full.report.usage.output,
        compact.report.usage.output,
    )


def test_compact_verdicts_reach_results_with_the_findings_of_full_ones_for_far_fewer_tokens(
    tmp_path: Path, shared_data: Path, google_rules: Path
) -> None:
    full, compact, full_output, compact_output = _both_formats(tmp_path, shared_data, google_rules)
    assert full.keys() == compact.keys()
    assert {block: _finding(result) for block, result in compact.items()} == {
        block: _finding(result) for block, result in full.items()
    }
    assert sum(bool(result.get("notes")) for result in full.values()) > 50
    assert sum(bool(result.get("edits")) for result in full.values()) > 10
    # A note on a rule the prompt does not write out names it and quotes the words.
    notes = [note for result in compact.values() for note in result.get("notes", [])]
    assert 'Google.We: "we"' in notes
    assert compact_output < full_output / 2


@pytest.mark.parametrize("engine", ["google"])
def test_with_the_rules_in_the_prompt_compact_notes_read_exactly_as_full_ones(
    tmp_path: Path, shared_data: Path, google_rules: Path, engine: str
) -> None:
    """With --styles Google, the rules the engine cannot run are written into the prompt,
    with their messages: their notes expand back to the very text the full format has."""
    full, compact, _, _ = _both_formats(tmp_path, shared_data, google_rules, styles=(google_rules,))
    assert {block: _finding(result) for block, result in compact.items()} == {
        block: _finding(result) for block, result in full.items()
    }
    assert {block: sorted(result.get("notes", [])) for block, result in compact.items()} == {
        block: sorted(result.get("notes", [])) for block, result in full.items()
    }
