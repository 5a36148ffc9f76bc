"""What both SDK adapters share about the connection: timeouts, and what a failure means.

A connection that could not be made at all (refused, no such host, no answer to connect) is
``ProviderUnreachable``, so a run can tell a wrong ``--base-url`` from a connection lost
mid-run; anything else on the wire is an ordinary transient error.
"""

from __future__ import annotations

import os

import httpx2

from blockpass.errors import ProviderUnreachable, TransientProviderError

# A call may stream for minutes, but connecting takes well under a second when the server is
# there: a host that drops packets should not hold the first call for ten minutes.
CLIENT_TIMEOUT = httpx2.Timeout(600.0, connect=15.0)


def connection_failure(
    provider: str, base_url: object, error: BaseException
) -> TransientProviderError:
    """The error an SDK's connection error (or a bare transport error) stands for."""
    cause = error if isinstance(error, httpx2.TransportError) else error.__cause__
    if isinstance(cause, httpx2.ConnectError | httpx2.ConnectTimeout):
        return ProviderUnreachable(f"cannot connect to {provider} at {base_url}: {_reason(cause)}")
    return TransientProviderError(f"connection to {provider} failed: {error}")


def _reason(error: BaseException) -> str:
    """The operating system's words for it ("Connection refused"), where it gave any."""
    current: BaseException | None = error
    while current is not None:
        number = getattr(current, "errno", None)
        if isinstance(number, int) and number > 0:
            return os.strerror(number)
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        current = current.__cause__ or current.__context__
    return str(error) or "timed out"
