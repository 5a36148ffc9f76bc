"""From a validated Messages request to the message the API would return, with its usage.

Shared by ``/v1/messages`` and by batch items, so the two cannot drift apart. The steps are
ordered as the API's accounting needs them: lay out the prefix, plan the cache, let the
rate limiter see the input that counts, then commit the cache and build the answer.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import jiter

from blockpass.packformat import PackedBlock
from blockpass.sandbox.anthropic.request import MessagesRequest, prefix_positions
from blockpass.sandbox.cache import CachePlan, Commit, PromptCache
from blockpass.sandbox.errors import invalid_request
from blockpass.sandbox.faults import RequestFaults
from blockpass.sandbox.presence import carried_rules
from blockpass.sandbox.ratelimit import Admission, RateLimiter
from blockpass.sandbox.responder import OfferedTool, Responder
from blockpass.tokens import count_tokens, truncate_to_tokens
from blockpass.verdicts import RuleCodes


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    message: dict[str, Any]
    commit: Commit
    admission: Admission | None

    @property
    def output_tokens(self) -> int:
        tokens: int = self.message["usage"]["output_tokens"]
        return tokens


def input_plan(
    request: MessagesRequest,
    cache: PromptCache,
    *,
    arrival_seq: int,
    started_at: float,
    allow_read: bool = True,
) -> tuple[CachePlan, int]:
    positions, total = prefix_positions(request)
    if total > request.model.context_window:
        raise invalid_request(
            f"prompt is too long: {total} tokens > {request.model.context_window} maximum"
        )
    plan = cache.plan(
        positions,
        total_tokens=total,
        min_cacheable=request.model.min_cacheable,
        arrival_seq=arrival_seq,
        started_at=started_at,
        allow_read=allow_read,
    )
    return plan, total


def complete(
    request: MessagesRequest,
    *,
    plan: CachePlan,
    total_input: int,
    cache: PromptCache,
    started_at: float,
    responder: Responder,
    blocks: list[PackedBlock],
    faults: RequestFaults,
    limiter: RateLimiter | None,
    service_tier: str = "standard",
) -> Completion:
    admission = None
    if limiter is not None:
        admission = limiter.admit(
            input_tokens=plan.uncached_input_tokens + plan.write_tokens,
            max_output=request.max_tokens,
        )
    commit = cache.commit(plan, started_at=started_at)
    content, stop_reason, output_tokens = _answer(request, total_input, responder, blocks, faults)
    message = {
        "id": f"msg_{uuid.uuid4().hex[:24]}",
        "type": "message",
        "role": "assistant",
        "model": request.model.id,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage(plan, output_tokens, service_tier=service_tier),
    }
    return Completion(message=message, commit=commit, admission=admission)


def usage(plan: CachePlan, output_tokens: int, *, service_tier: str) -> dict[str, Any]:
    return {
        "input_tokens": plan.uncached_input_tokens,
        "cache_creation_input_tokens": plan.write_tokens,
        "cache_read_input_tokens": plan.read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": plan.write_5m_tokens,
            "ephemeral_1h_input_tokens": plan.write_1h_tokens,
        },
        "output_tokens": output_tokens,
        "service_tier": service_tier,
    }


def _answer(
    request: MessagesRequest,
    total_input: int,
    responder: Responder,
    blocks: list[PackedBlock],
    faults: RequestFaults,
) -> tuple[list[dict[str, Any]], str, int]:
    if request.max_tokens == 0:
        return [], "max_tokens", 0
    if faults.refusal:
        return [], "refusal", 0
    lookups = _lookup_calls(request, responder, blocks)
    if lookups:
        produced = count_tokens(json.dumps(lookups), request.model.tokenizer)
        return lookups, "tool_use", produced
    tool = _answering_tool(request)
    text = responder.reply(
        blocks,
        request.output_schema or (tool or {}).get("input_schema"),
        faults,
        # Rules the model looked up through a tool count as shown to it.
        carried=carried_rules(f"{request.instructions}\n{request.looked_up}"),
        model=request.model.id,
        codes=RuleCodes.read(request.instructions),
    )
    family = request.model.tokenizer
    produced = count_tokens(text, family)
    room = request.model.context_window - total_input
    limit = min(request.max_tokens, room)
    if faults.truncate_share is not None:
        limit = min(limit, max(1, int(produced * faults.truncate_share)))
    stop_reason = "tool_use" if tool else "end_turn"
    if produced > limit:
        text = truncate_to_tokens(text, limit, family)
        produced = limit
        stop_reason = "model_context_window_exceeded" if limit == room else "max_tokens"
    if tool is None:
        return [{"type": "text", "text": text}], stop_reason, produced
    return [_tool_use(tool["name"], text)], stop_reason, produced


def _lookup_calls(
    request: MessagesRequest, responder: Responder, blocks: list[PackedBlock]
) -> list[dict[str, Any]]:
    """The responder's rule lookups as tool_use blocks, where the model may choose a tool."""
    choice = (request.tool_choice or {"type": "auto"})["type"]
    if request.thinking or choice in ("none", "tool"):
        return []
    offered = [
        OfferedTool(
            name=tool["name"], description=tool.get("description", ""), schema=tool["input_schema"]
        )
        for tool in request.tools
    ]
    calls = responder.tool_use.calls(offered, blocks, rounds_done=request.tool_rounds)
    return [_tool_use(call.name, json.dumps(call.arguments)) for call in calls]


def _answering_tool(request: MessagesRequest) -> dict[str, Any] | None:
    """The tool the model calls: the named one, else the first, unless told not to."""
    if request.output_schema is not None or not request.tools:
        return None
    choice = request.tool_choice or {"type": "auto"}
    if choice["type"] == "none":
        return None
    if choice["type"] == "tool":
        return next(tool for tool in request.tools if tool["name"] == choice["name"])
    return request.tools[0]


def _tool_use(name: str, arguments: str) -> dict[str, Any]:
    # A truncated tool call carries whatever part of its input had been generated.
    parsed: object
    try:
        parsed = json.loads(arguments)
    except json.JSONDecodeError:
        try:
            parsed = jiter.from_json(arguments.encode(), partial_mode="trailing-strings")
        except ValueError:
            parsed = {}
    return {
        "type": "tool_use",
        "id": f"toolu_{uuid.uuid4().hex[:24]}",
        "name": name,
        "input": parsed if isinstance(parsed, dict) else {},
    }
