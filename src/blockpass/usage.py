"""Token usage by the classes that are priced differently."""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum


class TokenClass(StrEnum):
    UNCACHED_INPUT = "uncached_input"
    CACHE_WRITE_5M = "cache_write_5m"
    CACHE_WRITE_1H = "cache_write_1h"
    CACHE_READ = "cache_read"
    OUTPUT = "output"


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    uncached_input: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0
    cache_read: int = 0
    output: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            **{
                field.name: getattr(self, field.name) + getattr(other, field.name)
                for field in fields(self)
            }
        )

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def input_total(self) -> int:
        return self.uncached_input + self.cache_write + self.cache_read

    def by_class(self) -> dict[TokenClass, int]:
        return {token_class: getattr(self, token_class.value) for token_class in TokenClass}
