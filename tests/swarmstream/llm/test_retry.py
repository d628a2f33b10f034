"""The retry schedule and the error taxonomy."""

from __future__ import annotations

import random

import openai
import pytest

from swarmstream.llm.retry import BadResponseError, RetryPolicy, error_kind, is_overload, is_retryable
from tests.swarmstream.llm.fakes import REQUEST, status_error


def test_full_jitter_stays_within_the_exponential_envelope():
    policy = RetryPolicy(max_attempts=8, base_s=0.25, cap_s=4.0)
    rng = random.Random(5)
    for attempt, ceiling in [(1, 0.25), (2, 0.5), (3, 1.0), (4, 2.0), (5, 4.0), (6, 4.0), (7, 4.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(2_000)]
        assert min(delays) >= 0 and max(delays) <= ceiling
        assert max(delays) > 0.9 * ceiling and min(delays) < 0.1 * ceiling, "jitter spans the whole range"


def test_retry_after_is_a_floor():
    policy = RetryPolicy(base_s=0.25, cap_s=4.0)
    rng = random.Random(1)
    assert all(policy.delay(1, rng, retry_after_s=3.0) == 3.0 for _ in range(100))
    assert all(policy.delay(1, rng, retry_after_s=0.0) <= 0.25 for _ in range(100))


@pytest.mark.parametrize(
    ("exc", "kind", "retryable", "overload"),
    [
        (status_error(429), "rate_limited", True, True),
        (status_error(500), "server_error", True, False),
        (status_error(503), "server_error", True, False),
        (status_error(400), "http_400", False, False),
        (status_error(401), "http_401", False, False),
        (status_error(408), "http_408", True, False),
        (openai.APITimeoutError(request=REQUEST), "timeout", True, True),
        (openai.APIConnectionError(request=REQUEST), "connection_error", True, False),
        (BadResponseError("truncated"), "bad_response", True, False),
        (RuntimeError("bug"), "error", False, False),
    ],
)
def test_error_kinds(exc, kind, retryable, overload):
    assert error_kind(exc) == kind
    assert is_retryable(kind) is retryable
    assert is_overload(kind) is overload
