"""Batch packs under the measured quality bound, through `blockpass run` on the sandbox."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from blockpass.cli import main
from blockpass.store import CallRecord
from tests.test_lanes import stored_calls

CHAPTERS = ("ch03-01-variables-and-mutability.md", "ch03-02-data-types.md")


def batch_run(shared_data: Path, out: Path, model: str) -> list[CallRecord]:
    book = shared_data / "corpora" / "rust-book"
    code = main(
        [
            "run", *(str(book / chapter) for chapter in CHAPTERS),
            "--guide", str(shared_data / "guides" / "18f-content-guide"),
            "--provider", "sandbox", "--model", model, "--mode", "batch",
            "--poll-interval", "0.05", "--poll-max", "0.2", "--sandbox-batch-seconds", "0.2",
            "--out", str(out), "--plain",
        ]
    )  # fmt: skip
    assert code == 0
    calls = anyio.run(stored_calls, out)
    assert calls
    assert all(call.batch for call in calls)
    return calls


def test_a_batch_run_keeps_its_packs_within_a_bound_past_which_answers_get_worse(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # claude-haiku-4-5's answers were measured to get worse past 10 blocks a pack; the
    # same packs answered in a batch are no better.
    haiku = batch_run(shared_data, tmp_path / "haiku", "claude-haiku-4-5")
    assert max(len(call.block_ids) for call in haiku) == 10
    # claude-sonnet-4-5's bound is the largest size swept, with no drop seen: batch packs
    # go past it (each pays for its prefix again), up to the backstop and answer length.
    sonnet = batch_run(shared_data, tmp_path / "sonnet", "claude-sonnet-4-5")
    assert max(len(call.block_ids) for call in sonnet) > 80
