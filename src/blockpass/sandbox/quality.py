"""The sandbox's quality model: what a cheaper model misses that a strong one finds.

The responder's rules find the same things for every model; a real cheap model does not. With
a quality model, each finding (an alert of the responder's rules) in a block answered by a
model with a miss rate is, independently:
  kept      as the strong model would report it,
  missed    left out of the answer (the block may come back ``ok``), or
  unsure    left out, with a note ``unsure: <rule id>`` instead (the cheap model saw
            something it could not settle; a routed run escalates such blocks).
The chance of a miss is ``miss_rate(model) x difficulty(rule) x (1 + position_slope x
position)``, capped at 1, where ``position`` counts from 0 in the pack and ``difficulty``
comes from the rule's type: substitution 1.0 (a word list), existence 1.5, any other
(occurrence, repetition, sequence, capitalization, conditional, ...) 2.0. A share
``unsure_share`` of the misses become unsure notes.

Draws are seeded by the model, the rule, the match and the block's text, so a run is
reproducible, a block missed in one pack position is judged again at another, and nothing
depends on request order. A model with no miss rate misses nothing (the strong tier).

THE DEFAULTS ARE ASSUMPTIONS, not measurements: ``DEFAULT_MISS_RATES`` were chosen to make
routing worth measuring (RouteLLM and FrugalGPT report weak models close to strong ones on
most items). Every report made with a quality model must say so. The router never sees any of
this: it is the sandbox's, behind the HTTP API.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["DEFAULT_MISS_RATES", "UNSURE_NOTE", "Judgement", "QualityModel", "rule_difficulty"]

UNSURE_NOTE = "unsure:"
DEFAULT_MISS_RATES: Mapping[str, float] = {
    "claude-haiku-4-5": 0.25,
    "claude-haiku-5-5": 0.2,
    "gpt-4.1-mini": 0.3,
    "gpt-5-mini": 0.2,
    "smollm2-135m-instruct": 0.7,
}
RULE_DIFFICULTY: Mapping[str, float] = {"substitution": 1.0, "existence": 1.5}
OTHER_RULE_DIFFICULTY = 2.0


class Judgement(StrEnum):
    KEPT = "kept"
    MISSED = "missed"
    UNSURE = "unsure"


@dataclass(frozen=True, slots=True, kw_only=True)
class QualityModel:
    """Miss rates per model id; empty (the default): every model finds everything."""

    miss_rates: Mapping[str, float] = field(default_factory=dict)
    position_slope: float = 0.02
    unsure_share: float = 0.5

    def __post_init__(self) -> None:
        for model, rate in self.miss_rates.items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"miss rate of {model} must be within 0..1, not {rate}")
        if self.position_slope < 0 or not 0.0 <= self.unsure_share <= 1.0:
            raise ValueError("position_slope must be >= 0 and unsure_share within 0..1")

    @classmethod
    def assumed(cls) -> QualityModel:
        """The documented default assumptions for the shipped cheaper models."""
        return cls(miss_rates=dict(DEFAULT_MISS_RATES))

    def miss_chance(self, model: str, rule_type: str, position: int) -> float:
        base = self.miss_rates.get(model, 0.0)
        return min(1.0, base * rule_difficulty(rule_type) * (1.0 + self.position_slope * position))

    def judge(
        self, *, model: str, rule_id: str, rule_type: str, match: str, text: str, position: int
    ) -> Judgement:
        chance = self.miss_chance(model, rule_type, position)
        if chance == 0.0:
            return Judgement.KEPT
        miss_draw, unsure_draw = _draws(model, rule_id, match, text)
        if miss_draw >= chance:
            return Judgement.KEPT
        return Judgement.UNSURE if unsure_draw < self.unsure_share else Judgement.MISSED


def rule_difficulty(rule_type: str) -> float:
    return RULE_DIFFICULTY.get(rule_type, OTHER_RULE_DIFFICULTY)


def _draws(*parts: str) -> tuple[float, float]:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    scale = float(1 << 64)
    return (
        int.from_bytes(digest[:8], "big") / scale,
        int.from_bytes(digest[8:16], "big") / scale,
    )
