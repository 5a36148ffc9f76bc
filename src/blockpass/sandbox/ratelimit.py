"""Token-bucket rate limits with Anthropic's response headers.

Three buckets, each refilling continuously to its per-minute limit: requests, input tokens
and output tokens. Input tokens are what was sent uncached plus what was written to the
cache; cache reads do not count (``PROVIDERS.md``). Output is reserved at ``max_tokens`` when
the request is admitted and the unused part is given back when it ends, as the API estimates
output tokens from ``max_tokens`` up front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from blockpass.sandbox.clock import Clock, rfc3339
from blockpass.sandbox.errors import ApiError


@dataclass(slots=True)
class Bucket:
    name: str
    per_minute: int
    level: float
    updated_at: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated_at)
        self.level = min(float(self.per_minute), self.level + elapsed * self.per_minute / 60.0)
        self.updated_at = now

    def seconds_until(self, amount: float) -> float:
        missing = amount - self.level
        return 0.0 if missing <= 0 else missing * 60.0 / self.per_minute

    def headers(self, now: float) -> dict[str, str]:
        full_in = (self.per_minute - self.level) * 60.0 / self.per_minute
        prefix = f"anthropic-ratelimit-{self.name}"
        return {
            f"{prefix}-limit": str(self.per_minute),
            f"{prefix}-remaining": str(max(0, math.floor(self.level))),
            f"{prefix}-reset": rfc3339(now + full_in),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    reserved_output: int
    headers: dict[str, str]


class RateLimiter:
    """Unlimited where a limit is None."""

    def __init__(
        self,
        clock: Clock,
        *,
        requests_per_minute: int | None = None,
        input_tokens_per_minute: int | None = None,
        output_tokens_per_minute: int | None = None,
    ) -> None:
        self._clock = clock
        now = clock.now()
        limits = {
            "requests": requests_per_minute,
            "input-tokens": input_tokens_per_minute,
            "output-tokens": output_tokens_per_minute,
        }
        self._buckets = {
            name: Bucket(name=name, per_minute=limit, level=float(limit), updated_at=now)
            for name, limit in limits.items()
            if limit is not None
        }

    def admit(self, *, input_tokens: int, max_output: int) -> Admission:
        """Take what the request needs, or raise a 429 saying how long to wait."""
        now = self._clock.now()
        needs = {"requests": 1, "input-tokens": input_tokens, "output-tokens": max_output}
        for bucket in self._buckets.values():
            bucket.refill(now)
        wait = max(
            (bucket.seconds_until(needs[name]) for name, bucket in self._buckets.items()),
            default=0.0,
        )
        if wait > 0:
            headers = self.headers(now)
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            exhausted = [
                name for name, bucket in self._buckets.items() if bucket.seconds_until(needs[name])
            ]
            raise ApiError(
                429,
                "rate_limit_error",
                f"This request would exceed the rate limit for {', '.join(exhausted)} per minute.",
                headers=headers,
            )
        for name, bucket in self._buckets.items():
            bucket.level -= needs[name]
        return Admission(reserved_output=max_output, headers=self.headers(now))

    def settle(self, admission: Admission, *, output_tokens: int) -> None:
        bucket = self._buckets.get("output-tokens")
        if bucket is not None:
            unused = admission.reserved_output - output_tokens
            bucket.level = min(float(bucket.per_minute), bucket.level + max(0, unused))

    def headers(self, now: float | None = None) -> dict[str, str]:
        now = self._clock.now() if now is None else now
        headers: dict[str, str] = {}
        for bucket in self._buckets.values():
            headers.update(bucket.headers(now))
        token_buckets = [
            bucket for name, bucket in self._buckets.items() if name.endswith("tokens")
        ]
        if token_buckets:
            tightest = min(token_buckets, key=lambda bucket: bucket.level / bucket.per_minute)
            for key, value in tightest.headers(now).items():
                headers[key.replace(tightest.name, "tokens")] = value
        return headers

    def scripted_limit(self) -> ApiError:
        """A 429 forced by a fault script, with the headers the real limiter would send."""
        headers = self.headers()
        headers["retry-after"] = "1"
        return ApiError(429, "rate_limit_error", "Rate limited (injected).", headers=headers)
