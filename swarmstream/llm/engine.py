"""The LLM call engine: rate limits, adaptive concurrency, retries and fallback around the client.

Every request ends in exactly one of two ways: a :class:`Completion`, or :class:`LLMFailure`
carrying the error kind and the number of attempts (the caller dead-letters it).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import openai

from swarmstream.action_space import AnswerFormat
from swarmstream.llm.adaptive import AimdController, ConcurrencyGate
from swarmstream.llm.call_metrics import CallMetrics
from swarmstream.llm.client import Completion, LLMClient, RawCompletion, estimate_tokens
from swarmstream.llm.ratelimit import RateLimiter, parse_retry_after
from swarmstream.llm.retry import RetryPolicy, error_kind, is_overload, is_retryable
from swarmstream.settings import LLMEndpoint, Settings

Clock = Callable[[], float]
# (messages, max_tokens, the answer's format (an act's, a survey's) or None) -> the answer.
Caller = Callable[[list[dict[str, str]], int, AnswerFormat | None], Awaitable[RawCompletion]]


class LLMFailure(Exception):
    """The last attempt failed: ``kind`` says how, ``attempts`` how many were made."""

    def __init__(self, kind: str, attempts: int, detail: str, endpoint: str):
        super().__init__(f"{kind} after {attempts} attempt(s) on {endpoint}: {detail}")
        self.kind = kind
        self.attempts = attempts
        self.detail = detail
        self.endpoint = endpoint


@dataclass
class Route:
    """One endpoint of the fallback chain, with its limiter and failure streak."""

    name: str
    call: Caller
    limiter: RateLimiter
    close: Callable[[], Awaitable[None]] | None = None
    model: str = ""  # the model requested from this endpoint
    failures: int = 0
    skipped_until: float = 0.0


@dataclass
class EngineStats:
    calls: Counter[str] = field(default_factory=Counter)  # attempts by outcome
    timed: CallMetrics = field(default_factory=CallMetrics)  # every attempt's duration, every answer's tokens
    requests_failed: int = 0
    retries: int = 0
    fallbacks: int = 0


class LLMEngine:
    """Shared by every interaction of a worker process."""

    def __init__(
        self,
        routes: list[Route],
        *,
        max_tokens: int,
        policy: RetryPolicy,
        gate_limit: AimdController | int,
        fallback_after: int = 3,
        fallback_cooldown_s: float = 30.0,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ):
        if not routes:
            raise ValueError("the engine needs at least one endpoint")
        self.routes = routes
        self.max_tokens = max_tokens
        self.policy = policy
        self.aimd = gate_limit if isinstance(gate_limit, AimdController) else None
        self._fixed_limit = gate_limit if isinstance(gate_limit, int) else 0
        self.gate = ConcurrencyGate(lambda: self.limit)
        self.fallback_after = fallback_after
        self.fallback_cooldown_s = fallback_cooldown_s
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.stats = EngineStats()

    @property
    def limit(self) -> int:
        """Calls allowed in flight now (the adaptive limit when ``auto_optimize`` is on)."""
        return self.aimd.current if self.aimd else self._fixed_limit

    def route(self) -> Route:
        """The first endpoint not being skipped; if all are, the one whose skip ends first."""
        now = self._clock()
        for route in self.routes:
            if route.skipped_until <= now:
                return route
        return min(self.routes, key=lambda r: r.skipped_until)

    async def complete(self, messages: list[dict[str, str]], shape: AnswerFormat | None = None) -> Completion:
        """One answer, retried across the endpoints; ``shape``: an act's or a survey's format, enforced as each
        endpoint can."""
        estimated = estimate_tokens(messages, self.max_tokens)
        attempt = 0
        while True:
            attempt += 1
            route = self.route()
            if route is not self.routes[0]:
                self.stats.fallbacks += 1
            await self.gate.acquire()
            inflight = self.gate.inflight
            started = 0.0
            try:
                await route.limiter.acquire(estimated)
                started = time.perf_counter()
                raw = await route.call(messages, self.max_tokens, shape)
            except Exception as exc:
                failure: Exception | None = exc
            else:
                failure = None
            finally:
                # Also on cancellation (a worker shutting down): a lost slot would shrink the gate for good.
                self.gate.release()
            if failure is not None:
                exc = failure
                kind = error_kind(exc)
                self.stats.calls[kind] += 1
                if started:  # the call was made (not refused by the limiter)
                    self.stats.timed.call(route.model, time.perf_counter() - started, kind)
                retry_after = self._after_failure(route, kind, exc, estimated)
                if not is_retryable(kind) or attempt >= self.policy.max_attempts:
                    self.stats.requests_failed += 1
                    raise LLMFailure(kind, attempt, str(exc)[:500], route.name) from exc
                self.stats.retries += 1
                await self._sleep(self.policy.delay(attempt, self._rng, retry_after))
                continue
            latency = time.perf_counter() - started
            self.stats.calls["success"] += 1
            self.stats.timed.call(route.model, latency)
            self.stats.timed.usage(route.model, raw.prompt_tokens, raw.completion_tokens)
            route.failures = 0
            if self.aimd:
                self.aimd.on_success(latency)
            if route.limiter.enabled:
                route.limiter.reconcile(estimated, raw.prompt_tokens + raw.completion_tokens)
                route.limiter.observe_headers(raw.headers, latency)
            return Completion(
                content=raw.content,
                model=raw.model,
                prompt_tokens=raw.prompt_tokens,
                completion_tokens=raw.completion_tokens,
                latency_s=latency,
                inflight_at_start=inflight,
                attempts=attempt,
                endpoint=route.name,
            )

    def _after_failure(self, route: Route, kind: str, exc: Exception, estimated: int) -> float | None:
        """Update limits and the route's streak; returns the provider's Retry-After, if any."""
        retry_after = None
        if isinstance(exc, openai.APIStatusError):
            retry_after = parse_retry_after(exc.response.headers)
        if kind == "rate_limited":
            # Rejected calls cost nothing at the provider: give the tokens back, stop everyone.
            route.limiter.reconcile(estimated, 0)
            route.limiter.pause(retry_after if retry_after is not None else self.policy.base_s)
        if is_overload(kind) and self.aimd:
            self.aimd.on_overload()
        if is_retryable(kind) and kind != "rate_limited":
            route.failures += 1
            if route.failures >= self.fallback_after and len(self.routes) > 1:
                route.failures = 0
                route.skipped_until = self._clock() + self.fallback_cooldown_s
        return retry_after

    def set_share(self, share: float) -> None:
        """Pace every endpoint at ``share`` of its limits (this worker's part of its group's)."""
        for route in self.routes:
            route.limiter.set_share(share)

    async def close(self) -> None:
        for route in self.routes:
            if route.close is not None:
                await route.close()


def build_engine(settings: Settings) -> LLMEngine:
    """The engine for these settings: the primary endpoint, then the fallbacks, in order."""
    routes = []
    for endpoint in settings.llm_endpoints():
        routes.append(_route(settings, endpoint))
    aimd: AimdController | int = settings.max_concurrent
    if settings.auto_optimize:
        aimd = AimdController(settings.llm_min_concurrent, settings.max_concurrent)
    return LLMEngine(
        routes,
        max_tokens=settings.llm_max_tokens,
        policy=RetryPolicy(settings.llm_max_attempts, settings.llm_backoff_base_s, settings.llm_backoff_cap_s),
        gate_limit=aimd,
        fallback_after=settings.llm_fallback_after,
        fallback_cooldown_s=settings.llm_fallback_cooldown_s,
    )


def _route(settings: Settings, endpoint: LLMEndpoint) -> Route:
    client = LLMClient(endpoint, timeout_s=settings.llm_timeout_s, max_connections=settings.max_concurrent * 2)
    limiter = RateLimiter(endpoint.rpm, endpoint.tpm, headroom=settings.llm_rate_headroom)
    return Route(name=client.name, call=client.call, limiter=limiter, close=client.close, model=endpoint.model)
