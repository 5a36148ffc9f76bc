"""The sandbox's quality model: cheaper models miss findings, reproducibly."""

from __future__ import annotations

from pathlib import Path

import pytest

from blockpass.packformat import PackedBlock
from blockpass.rules import load_styles
from blockpass.sandbox.quality import Judgement, QualityModel
from blockpass.sandbox.responder import Responder

SCHEMA = {"type": "object", "properties": {"results": {"type": "array"}}}
TEXTS = (
    "You can utilize the widget in order to configure it, e.g. with the CLI.",
    "We will use the cluster's API, and we will see that it's easy!",
    "It was decided by the team that the config would be rewritten.",
)


def judge(model: QualityModel, *, model_id: str = "weak", rule_type: str = "substitution",
          position: int = 0, text: str = "some text") -> Judgement:  # fmt: skip
    return model.judge(
        model=model_id, rule_id="Google.Latin", rule_type=rule_type, match="e.g.",
        text=text, position=position,
    )  # fmt: skip


def test_a_model_without_a_miss_rate_misses_nothing_and_a_rate_of_one_misses_everything() -> None:
    quality = QualityModel(miss_rates={"weak": 1.0})

    assert judge(quality, model_id="strong") is Judgement.KEPT
    assert all(judge(quality, text=f"text {n}") is not Judgement.KEPT for n in range(50))


def test_misses_are_drawn_from_the_content_so_the_same_block_is_judged_the_same_way() -> None:
    quality = QualityModel(miss_rates={"weak": 0.3})
    first = [judge(quality, text=f"block {n}") for n in range(200)]

    assert first == [judge(quality, text=f"block {n}") for n in range(200)]
    missed = sum(judgement is not Judgement.KEPT for judgement in first)
    assert 30 < missed < 90


def test_harder_rules_and_later_positions_are_missed_more_often() -> None:
    quality = QualityModel(miss_rates={"weak": 0.2}, position_slope=0.05)

    assert quality.miss_chance("weak", "substitution", 0) == pytest.approx(0.2)
    assert quality.miss_chance("weak", "existence", 0) == pytest.approx(0.3)
    assert quality.miss_chance("weak", "capitalization", 0) == pytest.approx(0.4)
    assert quality.miss_chance("weak", "substitution", 10) == pytest.approx(0.3)
    assert quality.miss_chance("weak", "capitalization", 100) == 1.0


@pytest.mark.parametrize(
    "settings",
    [{"miss_rates": {"weak": 1.5}}, {"position_slope": -1.0}, {"unsure_share": 2.0}],
)
def test_rates_outside_their_range_are_refused(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        QualityModel(**settings)  # type: ignore[arg-type]


def test_the_responder_drops_or_doubts_the_weak_models_findings_and_never_the_strong_ones(
    shared_data: Path,
) -> None:
    rules = load_styles([shared_data / "styles" / "Google" / "Google"])[0].rules
    quality = QualityModel(miss_rates={"claude-haiku-4-5": 1.0}, unsure_share=0.5)
    responder = Responder(rules, quality=quality)
    blocks = [PackedBlock(id=f"b{n}", kind="paragraph", text=text) for n, text in enumerate(TEXTS)]

    strong = responder.reply(blocks, SCHEMA, model="claude-sonnet-4-5")
    weak = responder.reply(blocks, SCHEMA, model="claude-haiku-4-5")

    assert '"edit"' in strong
    assert "unsure:" not in strong
    # Every finding is missed: at most unsure notes are left, never an edit.
    assert '"edit"' not in weak
    assert "unsure: Google." in weak
    assert weak == responder.reply(blocks, SCHEMA, model="claude-haiku-4-5")
