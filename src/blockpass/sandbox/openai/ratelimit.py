"""OpenAI's rate limits: a requests bucket and one tokens bucket, with ``x-ratelimit-*`` headers.

Unlike Anthropic, OpenAI counts every prompt token toward tokens per minute, cached ones
included (``PROVIDERS.md``), and counts output in the same bucket: the request reserves its
``max_completion_tokens`` up front and gets back what it did not use. The buckets refill
continuously (``sandbox/ratelimit.py``'s ``Bucket``). Reset headers are durations in the
API's own form (``1s``, ``6m0s``, ``120ms``); a 429 carries ``Retry-After`` in whole seconds.

The sandbox sizes the tokens bucket with its input-tokens-per-minute setting, the only token
budget it has that covers prompts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from blockpass.sandbox.clock import Clock
from blockpass.sandbox.openai.errors import OpenAIApiError
from blockpass.sandbox.ratelimit import Bucket


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    reserved: int
    headers: dict[str, str]


class OpenAIRateLimiter:
    """Unlimited where a limit is None."""

    def __init__(
        self,
        clock: Clock,
        *,
        requests_per_minute: int | None = None,
        tokens_per_minute: int | None = None,
    ) -> None:
        self._clock = clock
        now = clock.now()
        limits = {"requests": requests_per_minute, "tokens": tokens_per_minute}
        self._buckets = {
            name: Bucket(name=name, per_minute=limit, level=float(limit), updated_at=now)
            for name, limit in limits.items()
            if limit is not None
        }

    def admit(self, *, model: str, prompt_tokens: int, reserve_output: int) -> Admission:
        now = self._clock.now()
        needs = {"requests": 1, "tokens": prompt_tokens + reserve_output}
        for bucket in self._buckets.values():
            bucket.refill(now)
        short = {
            name: bucket.seconds_until(needs[name])
            for name, bucket in self._buckets.items()
            if bucket.seconds_until(needs[name]) > 0
        }
        if short:
            name, wait = max(short.items(), key=lambda item: item[1])
            bucket = self._buckets[name]
            unit = "requests per min (RPM)" if name == "requests" else "tokens per min (TPM)"
            used = bucket.per_minute - max(0, math.floor(bucket.level))
            headers = self.headers(now)
            headers["retry-after"] = str(max(1, math.ceil(wait)))
            raise OpenAIApiError(
                429,
                name,
                f"Rate limit reached for {model} on {unit}: Limit {bucket.per_minute}, "
                f"Used {used}, Requested {needs[name]}. Please try again in {_duration(wait)}.",
                code="rate_limit_exceeded",
                headers=headers,
            )
        for name, bucket in self._buckets.items():
            bucket.level -= needs[name]
        return Admission(reserved=reserve_output, headers=self.headers(now))

    def settle(self, admission: Admission, *, output_tokens: int) -> None:
        bucket = self._buckets.get("tokens")
        if bucket is not None:
            bucket.level = min(
                float(bucket.per_minute), bucket.level + admission.reserved - output_tokens
            )

    def headers(self, now: float | None = None) -> dict[str, str]:
        now = self._clock.now() if now is None else now
        headers: dict[str, str] = {}
        for name, bucket in self._buckets.items():
            full_in = (bucket.per_minute - bucket.level) * 60.0 / bucket.per_minute
            headers[f"x-ratelimit-limit-{name}"] = str(bucket.per_minute)
            headers[f"x-ratelimit-remaining-{name}"] = str(max(0, math.floor(bucket.level)))
            headers[f"x-ratelimit-reset-{name}"] = _duration(max(0.0, full_in))
        return headers

    def scripted_limit(self, model: str) -> OpenAIApiError:
        """A 429 forced by a fault script, with the headers the real limiter would send."""
        headers = self.headers()
        headers["retry-after"] = "1"
        return OpenAIApiError(
            429,
            "requests",
            f"Rate limit reached for {model} (injected). Please try again in 1s.",
            code="rate_limit_exceeded",
            headers=headers,
        )


def _duration(seconds: float) -> str:
    """A duration as the API writes it: ``120ms``, ``1.5s``, ``6m0s``, ``1h2m5s``."""
    if seconds < 1.0:
        return f"{round(seconds * 1000)}ms"
    hours, rest = divmod(seconds, 3600.0)
    minutes, rest = divmod(rest, 60.0)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    if hours or minutes:
        text = f"{int(minutes)}m{text}"
    if hours:
        text = f"{int(hours)}h{text}"
    return text
