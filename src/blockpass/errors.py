"""The one error tree of blockpass.

    BlockpassError                   base; `retryable` says whether trying again can help
    ├── UserInputError               bad input from the user: one clear line, exit 2
    ├── ToolServerGone               an MCP server of the tool loop went away mid-run
    └── ProviderError                a provider call failed
        ├── TransientProviderError   retryable: 5xx, a dropped connection, a timeout
        │   ├── RateLimited          carries the provider's retry-after
        │   ├── Overloaded           529 / 503
        │   └── ProviderUnreachable  no connection could be made: ends a run that never had one
        ├── NeverReached             a batch API that could not be reached before it ever answered
        ├── SpendLimitReached        the account's spend cap: retrying cannot help
        └── ProviderRejected         the request itself is wrong; not retryable
            └── BatchNotFound        the provider does not know the batch (any more)

User errors are printed as one line by the CLI, never as a traceback.
"""

from __future__ import annotations


class BlockpassError(Exception):
    retryable: bool = False


class UserInputError(BlockpassError):
    """Input the user can fix: a path, a file's encoding, an option value."""


class ProviderError(BlockpassError):
    """A call to a model provider failed."""


class TransientProviderError(ProviderError):
    retryable = True


class RateLimited(TransientProviderError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(TransientProviderError):
    pass


class ProviderUnreachable(TransientProviderError):
    """No connection could be made at all: refused, no such host, no answer to connect.

    Retryable once the provider has answered in this run (it went away for a while); before
    that, the address is most likely wrong, and waiting minutes to say so helps nobody.
    """


class NeverReached(ProviderError):
    """``ProviderUnreachable`` from a batch API that has not answered once in this run.

    Not retryable, unlike its cause: a batch run retries and looks again for hours, which
    would only hide a wrong address.
    """


class SpendLimitReached(ProviderError):
    """A 429 that is the spend cap, not a rate limit (PROVIDERS.md): stop, don't retry."""


class ProviderRejected(ProviderError):
    """The provider refused the request as invalid; sending it again cannot help."""


class BatchNotFound(ProviderRejected):
    """A batch id the provider answers 404 for: deleted, or from a sandbox since restarted."""


class ToolServerGone(BlockpassError):
    """An MCP server stopped answering while a tool loop used it: its process exited or its
    connection dropped. Not retryable: every call on that connection fails the same way, and
    the tool loop cannot go on without the tools it offered; a new run connects afresh."""
