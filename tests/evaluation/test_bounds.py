from __future__ import annotations

import tomllib
from dataclasses import replace
from decimal import Decimal
from importlib import resources
from pathlib import Path

from blockpass.evaluation.bounds import choose_bounds, write_bounds
from blockpass.evaluation.scoring import METRICS, Estimate
from blockpass.evaluation.summary import SizeRow, Summary
from blockpass.execution.planning import PackPlanner
from blockpass.packing import batch_pack_bound
from blockpass.providers.base import model_profile


def row(size: int, f1: float, unanswered: float = 0.0, model: str = "m") -> SizeRow:
    figures = {name: Estimate(value=None, low=None, high=None, n=10) for name in METRICS}
    figures["f1"] = Estimate(value=f1, low=None, high=None, n=10)
    figures["recall"] = Estimate(value=f1, low=None, high=None, n=10)
    figures["unanswered_rate"] = Estimate(value=unanswered, low=None, high=None, n=10)
    return SizeRow(
        model=model, mode="realtime", pack_size=size, blocks=10, skipped=0, calls=1,
        cost=Decimal(0), metrics=figures, id_failures=0, schema_failures=0, rejected_edits=0,
    )  # fmt: skip


def test_the_bound_is_the_last_size_before_f1_first_falls_below_95_percent() -> None:
    summary = Summary(
        sizes=(row(1, 0.80), row(5, 0.79), row(10, 0.70), row(20, 0.80)), positions=()
    )
    (bound,) = choose_bounds(summary, run="test run")
    assert bound.max_blocks == 5
    assert bound.sizes == (1, 5, 10, 20)
    assert bound.f1 == (0.80, 0.79, 0.70, 0.80)
    assert bound.run == "test run"


def test_more_unanswered_blocks_end_the_bound_too() -> None:
    summary = Summary(sizes=(row(1, 0.5), row(10, 0.5), row(40, 0.5, unanswered=0.1)), positions=())
    assert choose_bounds(summary, run="r")[0].max_blocks == 10


def test_a_model_that_finds_nothing_is_bounded_by_unanswered_blocks_alone_and_says_so() -> None:
    summary = Summary(sizes=(row(1, 0.0), row(5, 0.0), row(20, 0.0, unanswered=0.5)), positions=())
    (bound,) = choose_bounds(summary, run="r")
    assert bound.max_blocks == 5
    assert "bounded by unanswered blocks alone" in bound.note


def test_writing_bounds_keeps_other_models_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "bounds.toml"
    write_bounds(
        path, choose_bounds(Summary(sizes=(row(1, 0.5, model="a"),), positions=()), run="1")
    )
    later = Summary(sizes=(row(1, 0.9, model="b.1"), row(5, 0.9, model="b.1")), positions=())
    write_bounds(path, choose_bounds(later, run="2"))
    models = tomllib.loads(path.read_text())["models"]
    assert models["a"]["max_blocks"] == 1
    assert models["b.1"]["max_blocks"] == 5
    assert models["b.1"]["run"] == "2"
    assert models["b.1"]["f1"] == [0.9, 0.9]


def test_every_shipped_bound_reaches_its_models_profile() -> None:
    text = resources.files("blockpass.providers").joinpath("pack_bounds.toml").read_text()
    shipped = tomllib.loads(text).get("models", {})
    for model, entry in shipped.items():
        assert model_profile(model).pack_bound == entry["max_blocks"]
        assert entry["run"]
        assert len(entry["sizes"]) == len(entry["f1"]) == len(entry["blocks"])


def test_packing_takes_the_profiles_bound_unless_the_job_sets_one() -> None:
    profile = replace(model_profile("claude-haiku-4-5"), pack_bound=6)

    def limits(min_blocks: int, max_blocks: int | None) -> tuple[int, int]:
        planner = PackPlanner(
            profile=profile, prefix_tokens=100, min_blocks=min_blocks, max_blocks=max_blocks,
            count=len,
        )  # fmt: skip
        return planner.limits.min_blocks, planner.limits.max_blocks

    assert limits(10, None) == (6, 6)
    assert limits(2, None) == (2, 6)
    assert limits(10, 30) == (10, 30)
    assert PackPlanner(
        profile=replace(profile, pack_bound=None), prefix_tokens=100, min_blocks=10,
        max_blocks=None, count=len,
    ).limits.max_blocks == 40  # fmt: skip


def test_batch_packs_are_held_to_a_bound_past_which_answers_were_measured_to_get_worse() -> None:
    haiku, sonnet = model_profile("claude-haiku-4-5"), model_profile("claude-sonnet-4-5")

    # haiku-4-5's F1 fell past 10 of the sizes swept up to 80; sonnet-4-5's never fell, so
    # its bound (80) is only the largest size swept.
    assert (haiku.pack_bound, haiku.pack_bound_dropped) == (10, True)
    assert (sonnet.pack_bound, sonnet.pack_bound_dropped) == (80, False)
    assert batch_pack_bound(haiku, 400) == 10
    assert batch_pack_bound(haiku, 6) == 6
    assert batch_pack_bound(haiku, None) == 10
    assert batch_pack_bound(sonnet, 400) == 400
    assert batch_pack_bound(replace(haiku, pack_bound=None), 400) == 400
