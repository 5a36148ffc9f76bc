"""The model facts table (``models.toml``) that the emulated OpenAI API enforces."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources

from blockpass.sandbox.openai.errors import OpenAIApiError


class Caching(StrEnum):
    BLOCKS = "blocks"
    BREAKPOINTS = "breakpoints"


class ChatTools(StrEnum):
    ANY = "any"
    EFFORT_NONE = "effort_none"
    RESPONSES = "responses"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelFacts:
    id: str
    context_window: int
    max_output: int
    max_input: int
    caching: Caching
    reasoning: bool
    efforts: tuple[str, ...]
    chat_tools: ChatTools

    @property
    def default_effort(self) -> str | None:
        return self.efforts[0] if self.efforts else None


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
            max_input=facts["max_input"],
            caching=Caching(facts["caching"]),
            reasoning=facts["reasoning"],
            efforts=tuple(facts["efforts"]),
            chat_tools=ChatTools(facts["chat_tools"]),
        )
        for model_id, facts in raw["models"].items()
    }


def find_model(model_id: str) -> ModelFacts:
    facts = model_table().get(model_id)
    if facts is None:
        raise OpenAIApiError(
            404,
            "invalid_request_error",
            f"The model `{model_id}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    return facts
