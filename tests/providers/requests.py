"""The request most tests need: one cached prefix, then the pack."""

from __future__ import annotations

from typing import Any

from blockpass.providers.base import CacheTtl, ModelRequest, PartKind, RequestPart


def prefix_and_pack(
    *,
    model: str,
    system: str,
    cache_ttl: CacheTtl | None,
    user: str,
    max_tokens: int,
    schema: dict[str, Any],
    cache_key: str = "",
) -> ModelRequest:
    """``system`` as the prefix part (its breakpoint's TTL ``cache_ttl``), ``user`` as the pack."""
    return ModelRequest(
        model=model,
        parts=(
            RequestPart(kind=PartKind.PREFIX, text=system, cache_ttl=cache_ttl),
            RequestPart(kind=PartKind.PACK, text=user),
        ),
        max_tokens=max_tokens,
        schema=schema,
        cache_key=cache_key,
    )
