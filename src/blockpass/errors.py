"""The one error tree of blockpass.

    BlockpassError                   base; `retryable` says whether trying again can help
    ├── UserInputError               bad input from the user: one clear line, exit 2
    └── ProviderError                a provider call failed
        ├── RateLimited              retryable; carries the provider's retry-after
        ├── Overloaded               retryable (529 / 503)
        └── ProviderRejected         the request itself is wrong; not retryable

User errors are printed as one line by the CLI, never as a traceback.
"""

from __future__ import annotations


class BlockpassError(Exception):
    retryable: bool = False


class UserInputError(BlockpassError):
    """Input the user can fix: a path, a file's encoding, an option value."""


class ProviderError(BlockpassError):
    """A call to a model provider failed."""


class RateLimited(ProviderError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Overloaded(ProviderError):
    retryable = True


class ProviderRejected(ProviderError):
    """The provider refused the request as invalid; sending it again cannot help."""
