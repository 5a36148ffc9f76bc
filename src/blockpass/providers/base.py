"""The provider seam: a model profile (data), a provider-neutral request, and the protocol.

A profile says what a model can do; an adapter (``anthropic.py``) turns a ``ModelRequest``
into one vendor's wire format and its answer back into a ``ModelResponse``; authentication
belongs to the adapter's client. Nothing upstream branches on a provider's name.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from blockpass.errors import UserInputError
from blockpass.packformat import RESULT_TOOL_NAME
from blockpass.providers.tooldefs import ToolDefinition
from blockpass.tokens import TokenizerFamily
from blockpass.usage import Usage

if TYPE_CHECKING:
    from collections.abc import Callable

    from blockpass.providers.batches import BatchApi


# The profile provider of a model behind any OpenAI-compatible server (a profile the user
# states, no list price).
COMPATIBLE_PROVIDER = "openai-compatible"


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


# About 200 blocks in compact verdicts (``verdicts.py``), 60 in full ones.
DEFAULT_PACK_OUTPUT = 4_096


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
    # Whether the model may be offered tools beyond its result tool (a tool loop needs it).
    tools: bool = True
    # Blocks per realtime pack when the job sets no bound: what `blockpass eval` measured
    # (pack_bounds.toml, with the data it came from); None: packing's own default.
    pack_bound: int | None = None
    # Whether answers were measured to get worse past ``pack_bound`` (it is below the largest
    # size swept); False: no drop was seen up to the largest size swept, or nothing measured.
    pack_bound_dropped: bool = False
    # The most output a pack's answer is planned at: what bounds a pack's size (a longer
    # answer takes longer, holds more at risk of one truncation, and is where quality drops).
    pack_output: int = DEFAULT_PACK_OUTPUT
    # Whether the model is asked for compact verdicts by default (``verdicts.py``); a small
    # local model keeps the full format its grammars are built for.
    compact_verdicts: bool = True

    @property
    def results_key(self) -> str:
        """The model as its results depend on it: its id, and its answer mode when narrowed
        (results stored before a model was narrowed are not reused for it)."""
        return self.id if self.answers is AnswerMode.FULL else f"{self.id}:{self.answers}"


class PartKind(StrEnum):
    """Where a part sits in a request, stable first: a request's parts come in this order.

    ``prefix``: the same for every request of a lane (instructions, guide, schema, core
    rules). ``context``: chosen for one pack (retrieved rules). ``pack``: the blocks.
    """

    PREFIX = "prefix"
    CONTEXT = "context"
    PACK = "pack"


_PART_ORDER = list(PartKind)
# Anthropic rejects a fifth cache_control (HTTP 400), and a breakpoint costs a cache write
# on every provider that takes them, so no request may carry more.
MAX_BREAKPOINTS = 4
# Between two instruction parts when a vendor's wire form has room for one text only.
PART_SEPARATOR = "\n\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestPart:
    """One text of a request; ``cache_ttl`` set: a cache breakpoint right after it."""

    kind: PartKind
    text: str
    cache_ttl: CacheTtl | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCall:
    """A call the model made: ``id`` is the vendor's call id, which its result must echo.

    ``raw_arguments``: the argument text as the model wrote it when it is not a JSON object
    (``arguments`` is then empty); sent back as written, and answered with a tool error.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    raw_arguments: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantTurn:
    """What the model answered in an earlier round of the conversation."""

    text: str = ""
    tool_calls: tuple[ToolCall, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResult:
    """A tool's answer to one call. ``is_error``: the tool failed and ``output`` says why
    (APIs without an error flag see only ``output``)."""

    call_id: str
    output: str
    is_error: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolResultsTurn:
    """The answers to every call of the assistant turn before it. ``cache_ttl`` set: a cache
    breakpoint after the last result (the tool loop moves it to the newest turn)."""

    results: tuple[ToolResult, ...]
    cache_ttl: CacheTtl | None = None


Turn = AssistantTurn | ToolResultsTurn


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelRequest:
    """One call: ordered parts (prefix, context, the pack), then the tool turns that extend it.

    Instruction parts (prefix and context) become the system text, the pack the first user
    message, and ``turns`` the conversation after it: assistant tool calls, each answered by
    the tool results that follow. Cache breakpoints sit after the parts that carry a TTL: at
    most ``MAX_BREAKPOINTS``, longer TTLs first (Anthropic rejects a 1h entry after a 5m one).

    ``tools`` are tools the model may call beyond the adapter's own result tool; they belong
    to the cached prefix, so they are kept sorted by name with their schemas' keys sorted:
    the same set of tools gives the same bytes whatever order it was listed in.

    ``cache_key`` groups requests that share the prefix, for providers that route on it
    (OpenAI's ``prompt_cache_key``); empty: none sent.
    """

    model: str
    parts: tuple[RequestPart, ...]
    max_tokens: int
    schema: dict[str, Any]
    tools: tuple[ToolDefinition, ...] = ()
    turns: tuple[Turn, ...] = ()
    cache_key: str = ""

    def __post_init__(self) -> None:
        kinds = [part.kind for part in self.parts]
        if kinds.count(PartKind.PACK) != 1 or kinds[-1] is not PartKind.PACK:
            raise ValueError("a request ends with exactly one pack part")
        if kinds != sorted(kinds, key=_PART_ORDER.index):
            raise ValueError("request parts go prefix, then context, then the pack")
        ttls = [part.cache_ttl for part in self.parts if part.cache_ttl is not None] + [
            turn.cache_ttl
            for turn in self.turns
            if isinstance(turn, ToolResultsTurn) and turn.cache_ttl is not None
        ]
        if len(ttls) > MAX_BREAKPOINTS:
            raise ValueError(f"at most {MAX_BREAKPOINTS} cache breakpoints, not {len(ttls)}")
        if ttls != sorted(ttls, key=_TTL_ORDER.index):
            raise ValueError("cache breakpoints with a 1h TTL come before those with 5m")
        _check_turns(self.turns)
        object.__setattr__(self, "tools", _canonical_tools(self.tools))

    @property
    def instructions(self) -> tuple[RequestPart, ...]:
        """The prefix and context parts: the system text, in order."""
        return self.parts[:-1]

    @property
    def system_pieces(self) -> tuple[str, ...]:
        """The system text cut at part boundaries: the first piece is the first part's text
        alone, so a prefix stays the same bytes (and tokens) whatever context follows it."""
        texts = [part.text for part in self.instructions]
        return tuple(texts[:1] + [PART_SEPARATOR + text for text in texts[1:]])

    @property
    def system(self) -> str:
        """The instruction parts as one text, for wire forms with room for one."""
        return "".join(self.system_pieces)

    @property
    def user(self) -> str:
        """The pack's text: the first user message."""
        return self.parts[-1].text

    @property
    def cache_ttl(self) -> CacheTtl | None:
        """The first breakpoint's TTL (the stable prefix's), None when there is none."""
        return next((part.cache_ttl for part in self.parts if part.cache_ttl), None)


_TTL_ORDER = [CacheTtl.ONE_HOUR, CacheTtl.FIVE_MINUTES]


def _check_turns(turns: tuple[Turn, ...]) -> None:
    """Assistant calls and their results alternate, each result answering a call of the turn
    just before it, and the conversation ends with results (a request may not end with the
    assistant's turn: newer models reject prefill)."""
    calls: set[str] = set()
    for index, turn in enumerate(turns):
        expected = AssistantTurn if index % 2 == 0 else ToolResultsTurn
        if not isinstance(turn, expected):
            raise ValueError(f"turn {index} should be a {expected.__name__}")
        if isinstance(turn, AssistantTurn):
            calls = {call.id for call in turn.tool_calls}
        elif {result.call_id for result in turn.results} != calls:
            raise ValueError(f"turn {index} answers other calls than the turn before it")
    if turns and isinstance(turns[-1], AssistantTurn):
        raise ValueError("the tool turns end with the tool results")


def _canonical_tools(tools: tuple[ToolDefinition, ...]) -> tuple[ToolDefinition, ...]:
    """Tools sorted by name, each schema with its keys sorted at every level."""
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names) or RESULT_TOOL_NAME in names:
        raise ValueError(f"tool names must be unique and not {RESULT_TOOL_NAME!r}: {names}")
    return tuple(
        replace(tool, parameters=json.loads(json.dumps(tool.parameters, sort_keys=True)))
        for tool in sorted(tools, key=lambda tool: tool.name)
    )


class StopReason(StrEnum):
    """Why the model stopped, in blockpass's words; each adapter maps its vendor's.

    ``end``: the answer is complete (also after a stop sequence). ``tool_call``: it called a
    tool (the result tool included). ``pause``: the provider paused a long turn, to be sent
    back as is. ``output_limit``: ``max_tokens`` cut it. ``context_limit``: the context
    window was full. ``refusal``: it declined to answer.
    """

    END = "end"
    TOOL_CALL = "tool_call"
    PAUSE = "pause"
    OUTPUT_LIMIT = "output_limit"
    CONTEXT_LIMIT = "context_limit"
    REFUSAL = "refusal"

    @property
    def truncated(self) -> bool:
        """The answer was cut before its end."""
        return self in (StopReason.OUTPUT_LIMIT, StopReason.CONTEXT_LIMIT)


class RateLimitBucket(StrEnum):
    """A provider's rate-limit bucket. ``tokens``: one bucket for input and output alike
    (OpenAI's TPM; Anthropic's most restrictive token limit)."""

    REQUESTS = "requests"
    TOKENS = "tokens"
    INPUT_TOKENS = "input_tokens"
    OUTPUT_TOKENS = "output_tokens"


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitState:
    """What the provider's headers said was left, and when each bucket is full again.

    ``limits``: each bucket's per-minute limit (its capacity), where the headers state it.
    ``cached_input_counts``: cache reads use up the input bucket too (OpenAI's TPM counts
    them; Anthropic's ITPM does not), so a request needs its whole prompt there.
    """

    remaining: dict[RateLimitBucket, int]
    reset_at: dict[RateLimitBucket, float]
    limits: dict[RateLimitBucket, int] = field(default_factory=dict)
    cached_input_counts: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelResponse:
    """An answer: ``text`` is the result (the result tool's arguments when the model answers
    by tool), ``tool_calls`` the calls of other tools it made, in its order."""

    text: str
    stop_reason: StopReason
    usage: Usage
    rate_limits: RateLimitState | None = None
    tool_calls: tuple[ToolCall, ...] = ()


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


@runtime_checkable
class StreamingProvider(Protocol):
    """A provider that can tell when a response begins, before it is complete."""

    async def complete_streamed(
        self, request: ModelRequest, *, on_start: Callable[[RateLimitState | None], None]
    ) -> ModelResponse:
        """One call, streamed: ``on_start`` runs once, when the response begins (from then
        on the prompt's cache entry can be read), with the rate limits its headers state."""
        ...


def _bound_dropped(measured: dict[str, Any]) -> bool:
    bound, sizes = measured.get("max_blocks"), measured.get("sizes") or []
    return bound is not None and any(size > bound for size in sizes)


@cache
def _profiles() -> dict[str, ModelProfile]:
    files = resources.files(__package__)
    raw = tomllib.loads(files.joinpath("profiles.toml").read_text())
    bounds = tomllib.loads(files.joinpath("pack_bounds.toml").read_text()).get("models", {})
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
            tools=facts.get("tools", True),
            pack_bound=bounds.get(model_id, {}).get("max_blocks"),
            pack_bound_dropped=_bound_dropped(bounds.get(model_id, {})),
            pack_output=facts.get("pack_output", DEFAULT_PACK_OUTPUT),
            compact_verdicts=facts.get("compact_verdicts", True),
        )
        for model_id, facts in raw["models"].items()
    }


def model_profile(model_id: str) -> ModelProfile:
    profile = _profiles().get(model_id)
    if profile is None:
        known = ", ".join(sorted(_profiles()))
        raise UserInputError(f"unknown model {model_id!r}; known models: {known}")
    return profile
