"""The provider seam: a model profile (data), a provider-neutral request, and the protocol.

A profile says what a model can do; an adapter (``anthropic.py``) turns a ``ModelRequest``
into one vendor's wire format and its answer back into a ``ModelResponse``; authentication
belongs to the adapter's client. Nothing upstream branches on a provider's name.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol

from blockpass.errors import UserInputError
from blockpass.tokens import TokenizerFamily
from blockpass.usage import Usage

if TYPE_CHECKING:
    from blockpass.providers.batches import BatchApi


class OutputMechanism(StrEnum):
    JSON_SCHEMA = "json_schema"
    STRICT_TOOL_FORCED = "strict_tool_forced"
    STRICT_TOOL_AUTO = "strict_tool_auto"


class AnswerMode(StrEnum):
    """What a model may write in a result.

    ``full``: verdicts, edits and free notes (``RESULT_SCHEMA``). ``references``: for a model
    too weak to write sound prose, a verdict per block and notes that only name guide sections
    or rules present in the prompt, chosen from an enumeration (no edits, no free text).
    """

    FULL = "full"
    REFERENCES = "references"


class WireApi(StrEnum):
    """Which of its vendor's APIs a model is called through; only OpenAI's adapter has two."""

    CHAT = "chat"
    RESPONSES = "responses"


class CacheTtl(StrEnum):
    FIVE_MINUTES = "5m"
    ONE_HOUR = "1h"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelProfile:
    id: str
    provider: str
    context_window: int
    max_output: int
    min_cacheable: int
    tokenizer: TokenizerFamily
    output: OutputMechanism
    api: WireApi = WireApi.CHAT
    answers: AnswerMode = AnswerMode.FULL

    @property
    def results_key(self) -> str:
        """The model as its results depend on it: its id, and its answer mode when narrowed
        (results stored before a model was narrowed are not reused for it)."""
        return self.id if self.answers is AnswerMode.FULL else f"{self.id}:{self.answers}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    """One call: a stable cached prefix, then the pack. ``cache_ttl`` None: no breakpoint.

    ``cache_key`` groups requests that share the prefix, for providers that route on it
    (OpenAI's ``prompt_cache_key``); empty: none sent.
    """

    model: str
    system: str
    cache_ttl: CacheTtl | None
    user: str
    max_tokens: int
    schema: dict[str, Any]
    cache_key: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitState:
    """What the provider's headers said was left, and when each bucket is full again.

    ``cached_input_counts``: cache reads use up the input bucket too (OpenAI's TPM counts
    them; Anthropic's ITPM does not), so a request needs its whole prompt there.
    """

    remaining: dict[str, int]
    reset_at: dict[str, float]
    cached_input_counts: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelResponse:
    text: str
    stop_reason: str
    usage: Usage
    rate_limits: RateLimitState | None = None


class Provider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def profile(self) -> ModelProfile: ...

    @property
    def batches(self) -> BatchApi | None:
        """The provider's Batch API, or None when it has none (a local model).

        Declared by the provider itself, so that one wrapping another passes it on.
        """
        ...

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One call; raises the ``ProviderError`` tree of ``blockpass.errors``."""
        ...

    async def aclose(self) -> None: ...


@cache
def _profiles() -> dict[str, ModelProfile]:
    raw = tomllib.loads(resources.files(__package__).joinpath("profiles.toml").read_text())
    return {
        model_id: ModelProfile(
            id=model_id,
            provider=facts["provider"],
            context_window=facts["context_window"],
            max_output=facts["max_output"],
            min_cacheable=facts["min_cacheable"],
            tokenizer=TokenizerFamily(facts["tokenizer"]),
            output=OutputMechanism(facts["output"]),
            api=WireApi(facts.get("api", WireApi.CHAT)),
            answers=AnswerMode(facts.get("answers", AnswerMode.FULL)),
        )
        for model_id, facts in raw["models"].items()
    }


def model_profile(model_id: str) -> ModelProfile:
    profile = _profiles().get(model_id)
    if profile is None:
        known = ", ".join(sorted(_profiles()))
        raise UserInputError(f"unknown model {model_id!r}; known models: {known}")
    return profile
