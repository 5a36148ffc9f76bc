from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from blockpass.blocks import REUSED
from blockpass.estimate import estimate_job
from blockpass.execution.packwork import ExecutionSettings
from blockpass.forecast import Strategy
from blockpass.layout import answer_room
from blockpass.pipeline import JobSpec, read_job_inputs, run_job
from blockpass.prices import load_prices
from blockpass.providers import open_adapter
from blockpass.providers.base import model_profile
from blockpass.sandbox import DEFAULT_API_KEY
from blockpass.store import open_sqlite_store
from blockpass.tokens import count_tokens
from tests.sandbox.support import StartSandbox

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_each_strategy_row_adds_one_saving_to_the_row_before(
    shared_data: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pages"
    folder.mkdir()
    pages = sorted((shared_data / "corpora" / "tldr").glob("c*.md"))[:40]
    for page in pages:
        (folder / page.name).write_bytes(page.read_bytes())
    (folder / "again.md").write_bytes(pages[0].read_bytes())
    spec = JobSpec(
        inputs=[folder], guide=shared_data / "guides" / "18f-content-guide", out_dir=tmp_path
    )
    estimate = estimate_job(spec, model_profile("claude-sonnet-4-5"), load_prices())
    strategies = [row.strategy for row in estimate.rows]
    assert strategies == [
        Strategy.PER_BLOCK,
        Strategy.PREFILTERED,
        Strategy.REUSED,
        Strategy.CACHED,
        Strategy.PACKED,
    ]
    costs = [row.cost.total for row in estimate.rows]
    assert costs == sorted(costs, reverse=True)
    assert estimate.blocks > estimate.kept > estimate.distinct
    assert [row.blocks for row in estimate.rows[:3]] == [
        estimate.blocks,
        estimate.kept,
        estimate.distinct,
    ]


def test_a_task_the_engine_covers_fully_forecasts_no_model_cost(tmp_path: Path) -> None:
    spec = JobSpec(
        inputs=[EXAMPLES / "sample.md"],
        guide=None,
        styles=[EXAMPLES / "rules" / "Example"],
        out_dir=tmp_path,
    )
    estimate = estimate_job(spec, model_profile("claude-sonnet-4-6"), load_prices())
    rules_row = next(row for row in estimate.rows if row.strategy is Strategy.RULES)
    assert rules_row.cost.total == 0
    assert estimate.to_model == 0


@pytest.mark.anyio
async def test_estimate_predicts_the_packs_and_the_copies_a_run_sends_on_the_same_input(
    start_sandbox: StartSandbox, shared_data: Path, tmp_path: Path
) -> None:
    chapter = shared_data / "corpora" / "rust-book" / "ch03-01-variables-and-mutability.md"
    text = chapter.read_text(encoding="utf-8")
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text(text, encoding="utf-8")
    # The same paragraphs again, in another document: copies that take the first's result.
    (folder / "b.md").write_text(text[: len(text) // 3], encoding="utf-8")
    spec = JobSpec(
        inputs=[folder],
        guide=EXAMPLES / "guide.md",
        out_dir=tmp_path / "out",
        execution=ExecutionSettings(min_blocks=1, max_blocks=6),
    )
    model = model_profile("claude-sonnet-4-5")
    task = read_job_inputs(spec)[2]
    prefix = count_tokens(task.system_prefix, model.tokenizer)
    # Room for only a few paragraphs per pack, so the input budget closes packs, not only
    # the block bound.
    profile = replace(model, context_window=prefix + answer_room(model) + 400)

    estimate = estimate_job(spec, profile, load_prices())
    running = start_sandbox()
    provider = open_adapter(
        profile, api_key=DEFAULT_API_KEY, base_url=running.server.base_url, name="sandbox"
    )
    try:
        await run_job(spec, provider, load_prices())
    finally:
        await provider.aclose()

    store = await open_sqlite_store(spec.out_dir)
    try:
        calls, results, blocks = await store.calls(), await store.results(), await store.blocks()
    finally:
        await store.close()
    position = {block.id: index for index, block in enumerate(blocks)}
    assert {call.status for call in calls} == {"ok"}
    sent = sorted((call.block_ids for call in calls), key=lambda ids: position[ids[0]])
    copied = [block.id for block in blocks if results[block.id].reason == REUSED]
    assert estimate.packs == tuple(sent)
    assert estimate.copies == tuple(copied)
    assert len(copied) > 5
    assert any(len(ids) < 6 for ids in sent[:-1]), "no pack was closed by the input budget"


def test_estimate_plans_output_as_a_run_of_the_model_learned_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from blockpass.cli import main

    document = EXAMPLES / "sample.md"
    job = ["--guide", str(EXAMPLES / "guide.md"), "--provider", "sandbox"]
    job += ["--model", "claude-sonnet-4-5", "--plain"]
    assert main(["run", str(document), *job, "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    assert main(["estimate", str(document), *job]) == 0
    defaults = capsys.readouterr().out
    assert main(["estimate", str(document), *job, "--learned-from", str(tmp_path / "run")]) == 0
    learned = capsys.readouterr().out
    assert "output estimated per block kind" in defaults
    assert f"output estimated as {tmp_path / 'run'} learned it" in learned.replace("\n", "")
    packing = [line for line in (defaults + learned).splitlines() if "+ packing" in line]
    assert len(packing) == 2
    assert packing[0] != packing[1]
    assert main(["estimate", str(document), *job, "--learned-from", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
