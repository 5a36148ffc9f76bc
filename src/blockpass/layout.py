"""A pack into a provider-neutral request with a byte-stable cached prefix.

The prefix (instructions, guide, schema) is the same text for every request of a run, and
the breakpoint sits right after it; what is chosen for one pack comes after the breakpoint.
No breakpoint below the model's minimum cacheable length: below it the provider caches
nothing anyway, and the marker would only use a slot.

TTL policy: 5 minutes unless the expected gap between two uses of the prefix is longer, then
1 hour (a 1h write costs 2x input against 1.25x, so it pays only when 5m would lapse).
"""

from __future__ import annotations

from blockpass.packing import Pack
from blockpass.providers.base import CacheTtl, ModelProfile, ModelRequest, PartKind, RequestPart
from blockpass.task import Task

FIVE_MINUTES = 300.0
# max_tokens is this many times a pack's estimated output (plus headroom): estimates are
# rough, and a truncated answer is paid for before its rest is sent again.
OUTPUT_HEADROOM = 2
_OUTPUT_SLACK = 256


def choose_ttl(
    *, prefix_tokens: int, min_cacheable: int, expected_gap_seconds: float
) -> CacheTtl | None:
    if prefix_tokens < min_cacheable:
        return None
    return CacheTtl.ONE_HOUR if expected_gap_seconds > FIVE_MINUTES else CacheTtl.FIVE_MINUTES


def output_reserve(pack: Pack, profile: ModelProfile) -> int:
    """max_tokens for a pack: twice its estimate plus slack, within ``answer_room``."""
    return min(answer_room(profile), OUTPUT_HEADROOM * pack.estimated_output + _OUTPUT_SLACK)


def answer_room(profile: ModelProfile) -> int:
    """The most max_tokens any pack asks for, which a request's input leaves of the context
    window: packs are planned at ``output_cap``, so no answer needs the model's whole maximum
    (keeping that, 64,000 tokens of a 200,000 window, refused guides the model can take)."""
    return min(profile.max_output, OUTPUT_HEADROOM * output_cap(profile) + _OUTPUT_SLACK)


def output_cap(profile: ModelProfile) -> int:
    """The most estimated output a pack may carry: the model's planned answer length, and
    no more than lets its max_tokens fit the model."""
    return min(profile.pack_output, (profile.max_output - _OUTPUT_SLACK) // OUTPUT_HEADROOM)


def build_request(
    task: Task,
    pack: Pack,
    profile: ModelProfile,
    ttl: CacheTtl | None,
    *,
    cache_key: str = "",
    shared: str = "",
    shared_ttl: CacheTtl | None = None,
    context: str = "",
    context_ttl: CacheTtl | None = None,
) -> ModelRequest:
    """The task's prefix, the breakpoint, the ``shared`` context and the pack's own
    ``context`` (each when there is one), the pack.

    ``cache_key`` groups a run's requests (the task fingerprint, computed once per run).
    ``context`` is text chosen for this pack (retrieved rules, or the whole guide for a pack
    that falls back): it sits after the prefix's breakpoint, so it never changes the cached
    prefix; ``context_ttl`` gives it a breakpoint of its own, for a context that recurs.
    ``shared`` is context every pack of the run carries (the rules many packs need), cached
    after the prefix with ``shared_ttl``.
    """
    context_parts = [
        RequestPart(kind=PartKind.CONTEXT, text=text, cache_ttl=part_ttl)
        for text, part_ttl in ((shared, shared_ttl), (context, context_ttl))
        if text
    ]
    return ModelRequest(
        model=profile.id,
        parts=(
            RequestPart(kind=PartKind.PREFIX, text=task.system_prefix, cache_ttl=ttl),
            *context_parts,
            RequestPart(kind=PartKind.PACK, text=pack.render()),
        ),
        max_tokens=output_reserve(pack, profile),
        schema=task.schema,
        cache_key=cache_key,
    )
