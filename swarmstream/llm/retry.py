"""When an LLM call failed: is it worth another attempt, and after how long."""

from __future__ import annotations

import random
from dataclasses import dataclass

import openai


class BadResponseError(ValueError):
    """The endpoint answered 2xx with a body that is not a usable chat completion."""


def error_kind(exc: BaseException) -> str:
    """A stable name for what went wrong, used in dead letters and metrics."""
    if isinstance(exc, openai.RateLimitError):
        return "rate_limited"
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection_error"
    if isinstance(exc, openai.APIStatusError):
        return "server_error" if exc.status_code >= 500 else f"http_{exc.status_code}"
    if isinstance(exc, BadResponseError):
        return "bad_response"
    return "error"


# 408 and 409 are what the openai package itself retries; other 4xx mean the request is wrong.
_RETRYABLE = {"rate_limited", "timeout", "connection_error", "server_error", "bad_response", "http_408", "http_409"}


def is_retryable(kind: str) -> bool:
    return kind in _RETRYABLE


def is_overload(kind: str) -> bool:
    """Errors that say "slow down" to the adaptive limit."""
    return kind in ("rate_limited", "timeout")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter: attempt ``n`` waits uniform(0, min(cap, base * 2**n))."""

    max_attempts: int = 4
    base_s: float = 0.25
    cap_s: float = 8.0

    def delay(self, attempt: int, rng: random.Random, retry_after_s: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        A ``Retry-After`` from the provider is a floor: waiting less would only earn another 429.
        """
        jittered = rng.uniform(0, min(self.cap_s, self.base_s * 2 ** (attempt - 1)))
        return max(jittered, retry_after_s or 0.0)
