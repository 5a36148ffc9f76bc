"""From a validated Chat Completions request to the completion the API would return.

Shared by ``/v1/chat/completions`` and by batch items, so the two cannot drift apart. The
order follows the accounting: lay out the prompt, plan the cache, let the rate limiter see
the whole prompt (cached tokens count toward TPM on OpenAI), then commit and answer. The
answer is the shared deterministic responder's, the same verdicts as on the Anthropic side.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from blockpass.packformat import PackedBlock
from blockpass.sandbox.cache import Commit
from blockpass.sandbox.faults import RequestFaults
from blockpass.sandbox.openai.cache import CachePlan, OpenAIPromptCache
from blockpass.sandbox.openai.errors import invalid
from blockpass.sandbox.openai.models import Caching
from blockpass.sandbox.openai.prompt import prompt_marks
from blockpass.sandbox.openai.ratelimit import Admission, OpenAIRateLimiter
from blockpass.sandbox.openai.request import ChatRequest
from blockpass.sandbox.presence import carried_rules
from blockpass.sandbox.responder import OfferedTool, Responder
from blockpass.tokens import TokenizerFamily, count_tokens, truncate_to_tokens
from blockpass.verdicts import RuleCodes

REFUSAL = "I'm sorry, but I can't help with that request."
FINGERPRINT = "fp_blockpass_sandbox"
_FAMILY = TokenizerFamily.CLASSIC


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    body: dict[str, Any]
    commit: Commit
    admission: Admission | None
    output_tokens: int


def input_plan(
    request: ChatRequest,
    cache: OpenAIPromptCache,
    *,
    arrival_seq: int,
    now: float,
    allow_read: bool = True,
) -> CachePlan:
    marks, total = prompt_marks(request)
    model = request.model
    requested = request.max_output or 0
    if total > model.max_input or total + requested > model.context_window:
        raise invalid(
            f"This model's maximum context length is {model.context_window} tokens "
            f"({model.max_input} for the prompt). However, you requested {total + requested} "
            f"tokens ({total} in the messages, {requested} in the completion). Please reduce "
            "the length of the messages or completion.",
            "messages",
            "context_length_exceeded",
        )
    return cache.plan(
        marks, prompt_tokens=total, arrival_seq=arrival_seq, now=now, allow_read=allow_read
    )


def complete(
    request: ChatRequest,
    *,
    plan: CachePlan,
    cache: OpenAIPromptCache,
    now: float,
    responder: Responder,
    blocks: list[PackedBlock],
    faults: RequestFaults,
    limiter: OpenAIRateLimiter | None,
) -> Completion:
    admission = None
    if limiter is not None:
        admission = limiter.admit(
            model=request.model.id,
            prompt_tokens=plan.prompt_tokens,
            reserve_output=request.max_output or 0,
        )
    commit = cache.commit(plan, now=now)
    message, finish_reason, output_tokens = _answer(request, plan, responder, blocks, faults)
    body = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(now),
        "model": request.model.id,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage(request, plan, output_tokens),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    return Completion(body=body, commit=commit, admission=admission, output_tokens=output_tokens)


def usage(request: ChatRequest, plan: CachePlan, output_tokens: int) -> dict[str, Any]:
    details: dict[str, int] = {"cached_tokens": plan.cached_tokens, "audio_tokens": 0}
    if request.model.caching is Caching.BREAKPOINTS:
        details["cache_write_tokens"] = plan.write_tokens
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": plan.prompt_tokens + output_tokens,
        "prompt_tokens_details": details,
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _answer(
    request: ChatRequest,
    plan: CachePlan,
    responder: Responder,
    blocks: list[PackedBlock],
    faults: RequestFaults,
) -> tuple[dict[str, Any], str, int]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "annotations": [],
    }
    if faults.refusal:
        message["refusal"] = REFUSAL
        return message, "stop", count_tokens(REFUSAL, _FAMILY)
    lookups = _lookup_calls(request, responder, blocks)
    if lookups:
        message["tool_calls"] = lookups
        return message, "tool_calls", count_tokens(json.dumps(lookups), _FAMILY)
    tool = _answering_tool(request)
    schema = tool["function"].get("parameters") if tool else request.schema
    # Rules the model looked up through a tool count as shown to it.
    carried = carried_rules(f"{request.instructions}\n{request.looked_up}")
    codes = RuleCodes.read(request.instructions)
    text = responder.reply(
        blocks, schema, faults, carried=carried, model=request.model.id, codes=codes
    )
    if schema is None and not blocks and _wants_json(request):
        text = "{}"
    produced = count_tokens(text, _FAMILY)
    room = request.model.context_window - plan.prompt_tokens
    limit = min(request.max_output or request.model.max_output, room)
    if faults.truncate_share is not None:
        limit = min(limit, max(1, int(produced * faults.truncate_share)))
    # A function forced by name ends "stop" and a chosen one "tool_calls", as the API answers
    # (observed and recorded in vllm-project/vllm pull request 25054).
    finish_reason = "tool_calls" if tool and isinstance(request.tool_choice, str | None) else "stop"
    if produced > limit:
        text = truncate_to_tokens(text, limit, _FAMILY)
        produced = limit
        finish_reason = "length"
    if tool is None:
        message["content"] = text
    else:
        message["tool_calls"] = [
            {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": tool["function"]["name"], "arguments": text},
            }
        ]
    return message, finish_reason, produced


def _lookup_calls(
    request: ChatRequest, responder: Responder, blocks: list[PackedBlock]
) -> list[dict[str, Any]]:
    """The responder's rule lookups as tool calls, where the model may choose a function
    (one at a time when parallel calls are off)."""
    if request.tool_choice not in (None, "auto", "required"):
        return []
    offered = [
        OfferedTool(
            name=function["name"],
            description=function.get("description", ""),
            schema=function.get("parameters", {}),
        )
        for function in (tool["function"] for tool in request.tools)
    ]
    calls = responder.tool_use.calls(offered, blocks, rounds_done=request.tool_rounds)
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        for call in calls[: None if request.parallel_tool_calls else 1]
    ]


def _wants_json(request: ChatRequest) -> bool:
    return request.response_format is not None and request.response_format["type"] != "text"


def _answering_tool(request: ChatRequest) -> dict[str, Any] | None:
    """The function the model calls: the named one, else the first, unless told not to."""
    if not request.tools or request.tool_choice == "none":
        return None
    choice = request.tool_choice
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        return next(tool for tool in request.tools if tool["function"]["name"] == name)
    if choice == "auto" or choice is None:
        # Left to choose, the model answers in the response format when there is one.
        return None if request.schema is not None else request.tools[0]
    return request.tools[0]
