"""Injected faults, drawn at random by rate or taken in order from a script.

A fault plan is written ``name=rate,...`` (``overloaded=0.05,truncate=0.1,drop_ids=0.05``);
a script is written ``entry,entry,...`` where each entry is ``ok`` or faults joined by ``+``
(``rate_limited,ok,truncate+drop_ids``) and applies to the next request, in arrival order.
While the script lasts, rates are not drawn.

Request faults (one at most per request, in this order of precedence):
  rate_limited      429 with ``retry-after``, as if a bucket were empty
  overloaded        529 overloaded_error
  server_error      500 api_error
  drop_connection   the connection closes in the middle of the response
  slow              the response starts ``slow_seconds`` late
Output faults (any combination):
  truncate          the output stops early with ``stop_reason: "max_tokens"``
  drop_ids          by rate: each block's result is left out with that probability;
                    in a script: the middle block's result is left out
  duplicate_ids     one result appears twice
  invent_ids        a result for an id that was not asked for
  reorder_ids       results come in reverse order
  malformed_json    the JSON text is broken
  refusal           ``stop_reason: "refusal"`` and no content
Batch item faults (by rate):
  batch_errored     the item ends ``errored`` with a retryable error
  batch_expired     the item never finishes and ends ``expired``
  batch_invalid     the item ends ``errored`` as an invalid request, which a retry repeats
                    (Anthropic ``invalid_request_error``; OpenAI a 400 in the error file)
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

REQUEST_FAULTS = ("rate_limited", "overloaded", "server_error", "drop_connection", "slow")
OUTPUT_FAULTS = (
    "truncate",
    "drop_ids",
    "duplicate_ids",
    "invent_ids",
    "reorder_ids",
    "malformed_json",
    "refusal",
)
# Appended, not inserted: the order sets the draws, and so what a seed gives.
BATCH_FAULTS = ("batch_errored", "batch_expired", "batch_invalid")
KNOWN_FAULTS = frozenset(REQUEST_FAULTS + OUTPUT_FAULTS + BATCH_FAULTS)


class FaultSpecError(ValueError):
    pass


def parse_rates(spec: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, value = item.partition("=")
        if name not in KNOWN_FAULTS:
            raise FaultSpecError(
                f"unknown fault {name!r}; known: {', '.join(sorted(KNOWN_FAULTS))}"
            )
        try:
            rate = float(value)
        except ValueError:
            raise FaultSpecError(f"fault {name!r} needs a rate between 0 and 1") from None
        if not 0.0 <= rate <= 1.0:
            raise FaultSpecError(f"fault {name!r} needs a rate between 0 and 1")
        rates[name] = rate
    return rates


def parse_script(spec: str) -> list[frozenset[str]]:
    script = []
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        names = frozenset() if entry == "ok" else frozenset(entry.split("+"))
        unknown = names - KNOWN_FAULTS
        if unknown:
            raise FaultSpecError(f"unknown fault {sorted(unknown)[0]!r} in script")
        script.append(names)
    return script


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFaults:
    request: str | None = None
    truncate_share: float | None = None
    dropped: frozenset[int] = frozenset()
    duplicate_ids: bool = False
    invent_ids: bool = False
    reorder_ids: bool = False
    malformed_json: bool = False
    refusal: bool = False


NO_FAULTS = RequestFaults()


@dataclass(frozen=True, slots=True, kw_only=True)
class Draw:
    names: frozenset[str]
    scripted: bool


@dataclass(slots=True)
class FaultPlan:
    rates: dict[str, float] = field(default_factory=dict)
    script: deque[frozenset[str]] = field(default_factory=deque)
    seed: int = 0
    slow_seconds: float = 2.0
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def _hit(self, name: str) -> bool:
        rate = self.rates.get(name, 0.0)
        return rate > 0.0 and self._rng.random() < rate

    def draw(self) -> Draw:
        """The faults of the next request, before its content is known."""
        if self.script:
            return Draw(names=self.script.popleft(), scripted=True)
        return Draw(
            names=frozenset(
                name
                for name in REQUEST_FAULTS + OUTPUT_FAULTS
                if name != "drop_ids" and self._hit(name)
            ),
            scripted=False,
        )

    def draw_output_only(self) -> Draw:
        """Output faults for a batch item, which has no HTTP exchange of its own to damage."""
        names = frozenset(name for name in OUTPUT_FAULTS if name != "drop_ids" and self._hit(name))
        return Draw(names=names, scripted=False)

    def shape(self, draw: Draw, block_count: int) -> RequestFaults:
        """Turn drawn fault names into concrete output damage for a pack of this size."""
        names = draw.names
        dropped: frozenset[int] = frozenset()
        if draw.scripted and "drop_ids" in names and block_count:
            dropped = frozenset({block_count // 2})
        elif not draw.scripted and self.rates.get("drop_ids", 0.0) > 0.0:
            rate = self.rates["drop_ids"]
            dropped = frozenset(i for i in range(block_count) if self._rng.random() < rate)
        if not names and not dropped:
            return NO_FAULTS
        request = next((name for name in REQUEST_FAULTS if name in names), None)
        return RequestFaults(
            request=request,
            truncate_share=self._rng.uniform(0.2, 0.9) if "truncate" in names else None,
            dropped=dropped,
            duplicate_ids="duplicate_ids" in names,
            invent_ids="invent_ids" in names,
            reorder_ids="reorder_ids" in names,
            malformed_json="malformed_json" in names,
            refusal="refusal" in names,
        )

    def batch_item_fault(self) -> str | None:
        return next((name for name in BATCH_FAULTS if self._hit(name)), None)
