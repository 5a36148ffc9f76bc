"""The tool loop for one pack: ask, call the tools the model asks for, answer, ask again.

``run_tool_loop`` sends the pack's request with the tools of a ``ToolRunner`` (an MCP
toolbox, ``client.py``); while the model answers with tool calls, it calls them (all of one
turn at once), appends the assistant turn and the tool results to the conversation, and
sends it again, until the model gives its structured answer. Every turn is a call of its own:
``on_turn`` hears of each as it ends (so the caller records it as a call in the run store and
the ledger, with its usage, before the next is sent, and a turn paid for is never lost to a
later failure), and the outcome keeps them all.

Caps: turns, tool calls and tokens (input and output of every turn together). A loop that
reaches one stops before the next call and says which (``LoopEnd``); its last response then
holds tool calls and no answer, and the caller treats the pack's blocks as unanswered.

Caching: the tools sit in the cached prefix, sorted, so they are the same bytes on every turn
(``tools.py``). The conversation grows by whole turns, and the newest tool results carry one
more cache breakpoint (``ToolResultsTurn.cache_ttl``, 5 minutes: a conversation goes on
within seconds), so each turn reads what the turn before wrote: the breakpoint moves with
the conversation, and the request never holds more than ``MAX_BREAKPOINTS`` (no moving
breakpoint when the parts already use them all).

A breakpoint writes the conversation to the cache at a premium (1.25x the input price), which
only a next turn reads back (at 0.1x). So a turn that cannot be continued (the last one the
caps allow) carries none; and whether a turn after lookups is continued is learned from the
run's own turns (``Continuations``): a model that looks its rules up and then answers, the
usual pattern, would pay the premium on every answering turn for a write nobody reads, so
the breakpoint is placed only once the run has shown that its turns go on often enough.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

import anyio

from blockpass.errors import ToolServerGone, UserInputError
from blockpass.mcp_bridge.tools import FlaggedTool, ToolCatalog
from blockpass.providers.base import (
    MAX_BREAKPOINTS,
    AssistantTurn,
    CacheTtl,
    ModelProfile,
    ModelRequest,
    ModelResponse,
    Provider,
    ToolCall,
    ToolResult,
    ToolResultsTurn,
    Turn,
)
from blockpass.usage import Usage


class ToolRunner(Protocol):
    async def catalog(self) -> ToolCatalog:
        """The tools on offer now (a server may have changed its list since)."""
        ...

    async def call(self, call: ToolCall) -> ToolResult:
        """One call; a failing tool gives a tool error, a dead server raises."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopLimits:
    """``max_tokens``: input and output tokens of all turns together; None: no cap."""

    max_turns: int = 8
    max_tool_calls: int = 32
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.max_turns < 1 or self.max_tool_calls < 0 or (self.max_tokens or 1) < 1:
            raise ValueError(f"loop limits must allow one turn: {self}")


# A conversation breakpoint costs 0.25x the input price of what it writes and saves 0.9x of
# it on the next turn: it pays off when more than this share of turns are continued.
BREAK_EVEN_CONTINUED = 0.25 / 0.9
# Turns seen before the share is trusted; until then no turn gets a breakpoint: a few
# conversations read again at the full price cost less than a premium on every pack's answer.
MIN_TURNS_SEEN = 4


@dataclass(slots=True)
class Continuations:
    """How often, in one run, a turn that carried tool results was followed by another turn
    (the model asked for more tools) rather than answered: whether a breakpoint on such a
    turn is likely to be read."""

    continued: int = 0
    answered: int = 0

    def saw(self, response: ModelResponse) -> None:
        if response.tool_calls:
            self.continued += 1
        else:
            self.answered += 1

    @property
    def worth_a_breakpoint(self) -> bool:
        seen = self.continued + self.answered
        return seen >= MIN_TURNS_SEEN and self.continued / seen > BREAK_EVEN_CONTINUED


def require_tools(profile: ModelProfile) -> None:
    """A model that cannot call tools is refused before any call."""
    if not profile.tools:
        raise UserInputError(
            f"model {profile.id!r} cannot call tools: leave --mcp and --mode agentic out"
        )


class LoopEnd(StrEnum):
    """Why the loop stopped: the model answered, or a cap was reached."""

    ANSWERED = "answered"
    TURN_CAP = "turn_cap"
    TOOL_CALL_CAP = "tool_call_cap"
    TOKEN_CAP = "token_cap"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopTurn:
    """One call of the loop: the request sent and the response to it."""

    request: ModelRequest
    response: ModelResponse


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopOutcome:
    end: LoopEnd
    turns: tuple[LoopTurn, ...]
    flagged: tuple[FlaggedTool, ...]

    @property
    def response(self) -> ModelResponse:
        """The last response: the answer when ``end`` is ``answered``."""
        return self.turns[-1].response

    @property
    def usage(self) -> Usage:
        return sum((turn.response.usage for turn in self.turns), Usage())

    @property
    def tool_calls(self) -> int:
        """Tool calls made (a capped loop's last turn asked for calls it did not get)."""
        calls = sum(len(turn.response.tool_calls) for turn in self.turns)
        return calls if self.end is LoopEnd.ANSWERED else calls - len(self.response.tool_calls)


async def run_tool_loop(
    provider: Provider,
    request: ModelRequest,
    tools: ToolRunner,
    *,
    limits: LoopLimits = LoopLimits(),
    continuations: Continuations | None = None,
    on_send: Callable[[ModelRequest], Awaitable[None]] | None = None,
    on_turn: Callable[[LoopTurn], Awaitable[None]] | None = None,
) -> LoopOutcome:
    """Run the loop for ``request`` (a pack's request, without tools of its own).

    ``continuations``: what the run's turns did so far, updated here (None: every turn that
    may be continued gets its breakpoint). ``on_send`` hears of each request just before it
    goes out (a run stores it as a call started), ``on_turn`` of each response as it comes
    back."""
    require_tools(provider.profile)
    turns: list[LoopTurn] = []
    conversation: list[Turn] = list(request.turns)
    calls_made = 0
    while True:
        catalog = await tools.catalog()
        may_go_on = len(turns) + 1 < limits.max_turns and calls_made < limits.max_tool_calls
        marked = may_go_on and (continuations is None or continuations.worth_a_breakpoint)
        sent = replace(
            request,
            tools=catalog.definitions,
            turns=_with_breakpoint(conversation, request, marked=marked),
        )
        if on_send is not None:
            await on_send(sent)
        response = await provider.complete(sent)
        if continuations is not None and turns:
            continuations.saw(response)
        turns.append(LoopTurn(request=sent, response=response))
        if on_turn is not None:
            await on_turn(turns[-1])
        end = _end(response, turns, calls_made, limits)
        if end is not None:
            return LoopOutcome(end=end, turns=tuple(turns), flagged=catalog.flagged)
        results = await _call_all(tools, response.tool_calls)
        calls_made += len(results)
        conversation += [
            AssistantTurn(text=response.text, tool_calls=response.tool_calls),
            ToolResultsTurn(results=results),
        ]


def _end(
    response: ModelResponse, turns: list[LoopTurn], calls_made: int, limits: LoopLimits
) -> LoopEnd | None:
    if not response.tool_calls:
        return LoopEnd.ANSWERED
    if len(turns) >= limits.max_turns:
        return LoopEnd.TURN_CAP
    if calls_made + len(response.tool_calls) > limits.max_tool_calls:
        return LoopEnd.TOOL_CALL_CAP
    used = sum(turn.response.usage.input_total + turn.response.usage.output for turn in turns)
    if limits.max_tokens is not None and used >= limits.max_tokens:
        return LoopEnd.TOKEN_CAP
    return None


async def _call_all(tools: ToolRunner, calls: Sequence[ToolCall]) -> tuple[ToolResult, ...]:
    """Every call of one turn at once; the results in the calls' order."""
    results: list[ToolResult | None] = [None] * len(calls)

    async def call_one(index: int, call: ToolCall) -> None:
        results[index] = await tools.call(call)

    try:
        async with anyio.create_task_group() as group:
            for index, call in enumerate(calls):
                group.start_soon(call_one, index, call)
    except BaseExceptionGroup as failures:
        # Parallel calls to a dead server all fail alike: the caller gets one error.
        gone = failures.subgroup(ToolServerGone)
        if gone is None:
            raise
        raise _first(gone) from None
    return tuple(result for result in results if result is not None)


def _first(group: BaseExceptionGroup[ToolServerGone]) -> ToolServerGone:
    inner = group.exceptions[0]
    return _first(inner) if isinstance(inner, BaseExceptionGroup) else inner


def _with_breakpoint(
    conversation: list[Turn], request: ModelRequest, *, marked: bool
) -> tuple[Turn, ...]:
    """The conversation with one breakpoint, on its newest tool results, if ``marked``."""
    used = sum(1 for part in request.parts if part.cache_ttl is not None)
    turns = [
        replace(turn, cache_ttl=None) if isinstance(turn, ToolResultsTurn) else turn
        for turn in conversation
    ]
    last = turns[-1] if turns else None
    if marked and isinstance(last, ToolResultsTurn) and used < MAX_BREAKPOINTS:
        turns[-1] = replace(last, cache_ttl=CacheTtl.FIVE_MINUTES)
    return tuple(turns)
