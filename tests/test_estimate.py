from __future__ import annotations

from pathlib import Path

from blockpass.estimate import estimate_job
from blockpass.forecast import Strategy
from blockpass.pipeline import JobSpec
from blockpass.prices import load_prices
from blockpass.providers.base import model_profile

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
