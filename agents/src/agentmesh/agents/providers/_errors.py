"""Provider failures, sorted into retryable (TransientError) and not (ProviderError)."""

from __future__ import annotations

from agentmesh.agents._errors import AgentError, TransientError

__all__ = ["ProviderError", "status_error"]

# 408 timeout, 409 conflict (lock contention), 425 too early, 429 rate limit: all pass.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})

_HINTS = {
    401: "check the API key",
    403: "the API key may not use this model or endpoint",
    404: "check the model name and the base URL",
}


class ProviderError(AgentError):
    """The provider refused the request for a reason retrying will not fix (auth, bad input)."""

    def __init__(self, provider: str, status: int | None, message: str) -> None:
        hint = _HINTS.get(status or 0)
        suffix = f" ({hint})" if hint else ""
        super().__init__(f"{provider} rejected the request [{status}]: {message}{suffix}")
        self.provider = provider
        self.status = status


def status_error(provider: str, status: int, message: str) -> AgentError:
    """The error to raise for an HTTP error status from ``provider``."""
    if status in _RETRYABLE_4XX or status >= 500:
        return TransientError(f"{provider} failed with HTTP {status} (retryable): {message}")
    return ProviderError(provider, status, message)
