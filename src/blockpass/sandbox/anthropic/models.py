"""The model facts table (``models.toml``) that the emulated Anthropic API enforces."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from blockpass.sandbox.errors import ApiError
from blockpass.tokens import TokenizerFamily


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFacts:
    id: str
    context_window: int
    max_output: int
    min_cacheable: int
    tokenizer: TokenizerFamily
    rejects_forced_tool_choice: bool
    rejects_prefill: bool


@cache
def model_table() -> dict[str, ModelFacts]:
    raw = tomllib.loads(
        resources.files(__package__).joinpath("models.toml").read_text(encoding="utf-8")
    )
    return {
        model_id: ModelFacts(
            id=model_id,
            context_window=facts["context_window"],
            max_output=facts["max_output"],
            min_cacheable=facts["min_cacheable"],
            tokenizer=TokenizerFamily(facts["tokenizer"]),
            rejects_forced_tool_choice=facts["rejects_forced_tool_choice"],
            rejects_prefill=facts["rejects_prefill"],
        )
        for model_id, facts in raw["models"].items()
    }


def find_model(model_id: object) -> ModelFacts:
    facts = model_table().get(model_id) if isinstance(model_id, str) else None
    if facts is None:
        raise ApiError(404, "not_found_error", f"model: {model_id}")
    return facts
