"""What an answer means: its status, and which of its blocks go out again, and how.

Pure decisions on an answer already parsed (``results.parse_answer`` keeps every complete
result of a truncated or broken answer):

- a truncated answer (its output limit, or the context window full) sends its missing blocks
  again in smaller packs, as do malformed output and a refusal;
- a refusal of a pack of one block fails that block at once: sending it again alone would
  only be refused again;
- ids missing from a complete answer are sent again at the same pack size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from blockpass.blocks import Block
from blockpass.providers.base import ModelResponse, StopReason

__all__ = ["SendAgain", "answer_status", "send_again"]


def answer_status(response: ModelResponse, *, complete: bool) -> str:
    """``ok``, ``truncated``, ``refused`` or ``malformed``: the status its call is stored with."""
    if response.stop_reason.truncated:
        return "truncated"
    if response.stop_reason is StopReason.REFUSAL:
        return "refused"
    if not complete:
        return "malformed"
    return "ok"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendAgain:
    blocks: tuple[Block, ...]
    reason: str
    """Recorded with the blocks that run out of attempts."""
    smaller: bool
    """In smaller packs than the one they came back from."""
    fail_now: bool = False
    """Fail them now, whatever attempts they have left."""


def send_again(status: str, missing: Sequence[Block], *, pack_size: int) -> SendAgain | None:
    """What to do with the blocks an answer with ``status`` held no result for."""
    if not missing:
        return None
    if status == "refused" and pack_size == 1:
        return SendAgain(
            blocks=tuple(missing), reason="refused by the model", smaller=True, fail_now=True
        )
    reason = "no result for its id" if status == "ok" else f"answer {status}"
    return SendAgain(blocks=tuple(missing), reason=reason, smaller=status != "ok")
