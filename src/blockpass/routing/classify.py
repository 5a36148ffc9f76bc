"""The classify pass: the cheapest tier names each block's tier, many blocks per call.

One request per ``BLOCKS_PER_CALL`` blocks, the blocks in the pack format every request uses
after a few lines of instructions (no guide: the pass decides who reviews a block, not what
is wrong with it), answered through the provider's structured output with a small schema of
its own: an object with one list of block ids per tier, under short labels
(``{"t1": ["b0", "b2"], "t2": ["b1"]}``; ``t1`` is the weakest, the instructions say which
model each label stands for). Every block gets its verdict, a few tokens each where an entry
object per block cost 16: an answer that lists only the blocks needing more than the
cheapest model would leave a forgotten block on the weak side, and asking for the ids that
need something is known to degrade. The block text is the pass's main cost then, so the
pass asks only about the blocks the free first pass leaves unsettled (``runner.py``). A
block no list names, or two lists name, goes to the strongest tier (the safe side), counted
as ``unanswered``; so do all the blocks of an answer that is no JSON or not the schema's
shape (a cut-off one), and of a call that fails (rejected, or a transient error); a spend
limit or an unreachable provider ends the run as for any call.

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
# At most a quoted short id and its comma per block (every block listed), and the JSON around.
ANSWER_TOKENS_PER_BLOCK = 4
ANSWER_TOKENS_FIXED = 64
INSTRUCTIONS = """You route blocks of a document to the model that will review their style.
Tiers, cheapest and weakest first: {tiers}.
Name the cheapest tier that will review each block well: plain, short text with at most a
simple word choice to fix stays on the first tier; long sentences, subtle grammar (passive
voice, capitalization, punctuation), markup or code that an edit must keep intact, or several
problems at once go to a later tier. List every block's id once, under the label of the tier
that should review it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Classified:
    tier_of: Mapping[str, int]
    calls: Sequence[CallRecord]
    # Blocks the answers did not place (missing, unknown tier, failed call): strongest tier.
    unanswered: int


def tier_schema(names: Sequence[str]) -> dict[str, Any]:
    """A list of block ids under each tier's label."""
    ids = {"type": "array", "items": {"type": "string"}}
    return {
        "type": "object",
        "properties": dict.fromkeys(names, ids),
        "required": list(names),
        "additionalProperties": False,
    }


def read_tiers(text: str, ids: Sequence[str], names: Sequence[str]) -> dict[str, int]:
    """The tier index (0 the weakest) of each pack id the answer lists exactly once; none
    at all when the answer is no JSON or not the schema's shape."""
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        return {}
    lists = [answer.get(name) if isinstance(answer, dict) else None for name in names]
    if not all(isinstance(listed, list) for listed in lists):
        return {}
    wanted = set(ids)
    placed: dict[str, int] = {}
    named: dict[str, int] = {}
    for tier, listed in enumerate(lists):
        for pack_id in listed or ():
            if pack_id in wanted:
                named[pack_id] = named.get(pack_id, 0) + 1
                placed[pack_id] = tier
    # Named twice: whichever is right, the answer is not to be trusted on it.
    return {pack_id: tier for pack_id, tier in placed.items() if named[pack_id] == 1}


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
