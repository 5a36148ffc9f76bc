"""Token usage by the classes that are priced differently."""

from __future__ import annotations

from dataclasses import dataclass
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
            uncached_input=self.uncached_input + other.uncached_input,
            cache_write_5m=self.cache_write_5m + other.cache_write_5m,
            cache_write_1h=self.cache_write_1h + other.cache_write_1h,
            cache_read=self.cache_read + other.cache_read,
            output=self.output + other.output,
        )

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h

    @property
    def input_total(self) -> int:
        return self.uncached_input + self.cache_write + self.cache_read

    def by_class(self) -> dict[TokenClass, int]:
        return {token_class: getattr(self, token_class.value) for token_class in TokenClass}
