"""The classify pass: the cheapest tier names each block's tier, many blocks per call.

One request per ``BLOCKS_PER_CALL`` blocks, the blocks in the pack format every request uses,
answered through the provider's structured output with a small schema of its own: an object
``{"tiers": [{"id": "b0", "tier": "t1"}, ...]}``, the tier an enum of short labels (``t1``
the weakest; the instructions say which model each stands for), since the answer's tokens
are the pass's dearest part. An answer that names a tier that does not exist, leaves a block
out, repeats one or is no JSON at all sends those blocks to the strongest tier (the safe
side), counted as ``unanswered``. A call that fails (rejected, or a transient error) does the
same for its blocks; a spend limit or an unreachable provider ends the run as for any call.

The calls are ``CallRecord``s with a pack id starting ``classify-``; they carry no results,
so the ledger prices them with the run and the tier report shows them apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from blockpass.blocks import Block
from blockpass.errors import ProviderRejected, TransientProviderError
from blockpass.packformat import PackedBlock, render_pack
from blockpass.providers.base import (
    CacheTtl,
    ModelRequest,
    PartKind,
    Provider,
    RequestPart,
    StopReason,
)
from blockpass.store import CallRecord, CallStatus
from blockpass.usage import Usage

__all__ = ["CLASSIFY_PACK", "Classified", "classify_blocks", "read_tiers"]

CLASSIFY_PACK = "classify-"
BLOCKS_PER_CALL = 80
# A short id and a tier name per block, and the JSON around them.
ANSWER_TOKENS_PER_BLOCK = 32
ANSWER_TOKENS_FIXED = 64
INSTRUCTIONS = """You route blocks of a document to the model that will review their style.
Tiers, cheapest and weakest first: {tiers}.
For each block, name the cheapest tier that will review it well: plain, short text with at
most a simple word choice to fix goes to the first tier; long sentences, subtle grammar
(passive voice, capitalization, punctuation), markup or code that an edit must keep intact,
or several problems at once go to a later tier. Answer with one entry per block id."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Classified:
    tier_of: Mapping[str, int]
    calls: Sequence[CallRecord]
    # Blocks the answers did not place (missing, unknown tier, failed call): strongest tier.
    unanswered: int


def tier_schema(names: Sequence[str]) -> dict[str, Any]:
    entry = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "tier": {"type": "string", "enum": list(names)}},
        "required": ["id", "tier"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"tiers": {"type": "array", "items": entry}},
        "required": ["tiers"],
        "additionalProperties": False,
    }


def read_tiers(text: str, ids: Sequence[str], names: Sequence[str]) -> dict[str, int]:
    """The tier index of each pack id the answer places once with a known tier name."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        return {}
    entries = answer.get("tiers") if isinstance(answer, dict) else None
    if not isinstance(entries, list):
        return {}
    wanted, seen, placed = set(ids), set[str](), dict[str, int]()
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        pack_id, name = entry.get("id"), entry.get("tier")
        if not isinstance(pack_id, str) or pack_id not in wanted:
            continue
        if pack_id in seen:
            # Named twice: whichever is right, the answer is not to be trusted on it.
            placed.pop(pack_id, None)
            continue
        seen.add(pack_id)
        if isinstance(name, str) and name in names:
            placed[pack_id] = list(names).index(name)
    return placed


def tier_labels(count: int) -> list[str]:
    return [f"t{number}" for number in range(1, count + 1)]


async def classify_blocks(
    provider: Provider, blocks: Sequence[Block], names: Sequence[str]
) -> Classified:
    """Each block's tier (0 the weakest, ``names`` the tiers' models) as ``provider``'s model
    names it: the weakest tier's, or any cheaper one."""
    strongest = len(names) - 1
    labels = tier_labels(len(names))
    tier_of: dict[str, int] = {}
    calls: list[CallRecord] = []
    unanswered = 0
    prefix = RequestPart(
        kind=PartKind.PREFIX,
        text=INSTRUCTIONS.format(
            tiers=", ".join(f"{label} ({name})" for label, name in zip(labels, names, strict=True))
        ),
        cache_ttl=CacheTtl("5m"),
    )
    for start in range(0, len(blocks), BLOCKS_PER_CALL):
        chunk = blocks[start : start + BLOCKS_PER_CALL]
        ids = [f"b{index}" for index in range(len(chunk))]
        pack = render_pack(
            PackedBlock(id=pack_id, kind=block.kind.value, text=block.text)
            for pack_id, block in zip(ids, chunk, strict=True)
        )
        request = ModelRequest(
            model=provider.profile.id,
            parts=(prefix, RequestPart(kind=PartKind.PACK, text=pack)),
            max_tokens=min(
                provider.profile.max_output,
                ANSWER_TOKENS_FIXED + ANSWER_TOKENS_PER_BLOCK * len(chunk),
            ),
            schema=tier_schema(labels),
        )
        started = time.time()
        try:
            response = await provider.complete(request)
            placed = read_tiers(response.text, ids, labels)
            usage, error = response.usage, ""
            # A cut-off answer is no JSON: its blocks go to the strongest tier.
            status = (
                CallStatus.OK.value
                if response.stop_reason is StopReason.END
                else CallStatus.TRUNCATED.value
            )
        except (TransientProviderError, ProviderRejected) as failure:
            placed, usage, status, error = {}, Usage(), CallStatus.ERROR.value, str(failure)
        calls.append(
            CallRecord(
                pack_id=f"{CLASSIFY_PACK}{start // BLOCKS_PER_CALL}",
                provider=provider.name,
                model=provider.profile.id,
                block_ids=tuple(block.id for block in chunk),
                usage=usage,
                batch=False,
                status=status,
                error=error,
                started_at=started,
                finished_at=time.time(),
            )
        )
        for pack_id, block in zip(ids, chunk, strict=True):
            tier_of[block.id] = placed.get(pack_id, strongest)
        unanswered += len(chunk) - len(placed)
    return Classified(tier_of=tier_of, calls=calls, unanswered=unanswered)
