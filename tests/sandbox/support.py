"""Helpers shared by the sandbox tests."""

from __future__ import annotations

from typing import Any

from blockpass.packformat import PackedBlock, render_pack


def pack(*texts: str) -> str:
    return render_pack(
        PackedBlock(id=f"b{number}", kind="paragraph", text=text)
        for number, text in enumerate(texts, start=1)
    )


def cached_system(text: str, ttl: str = "5m") -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}]
