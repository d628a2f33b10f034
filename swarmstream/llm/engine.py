"""The LLM call engine: an endpoint pool, rate limits, adaptive concurrency, retries and fallback around the client.

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
from swarmstream.llm.client import Completion, LLMClient, estimate_tokens
from swarmstream.llm.pool import EndpointPool, NoEndpoint, Route
from swarmstream.llm.ratelimit import RateLimiter, parse_retry_after
from swarmstream.llm.retry import RetryPolicy, error_kind, is_overload, is_retryable
from swarmstream.settings import LLMEndpoint, Settings

Clock = Callable[[], float]


class LLMFailure(Exception):
    """The last attempt failed: ``kind`` says how, ``attempts`` how many were made."""

    def __init__(self, kind: str, attempts: int, detail: str, endpoint: str):
        super().__init__(f"{kind} after {attempts} attempt(s) on {endpoint}: {detail}")
        self.kind = kind
        self.attempts = attempts
        self.detail = detail
        self.endpoint = endpoint


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
        fallbacks: list[Route] | None = None,
        default_model: str | None = None,
        max_tokens: int,
        policy: RetryPolicy,
        gate_limit: AimdController | int,
        fallback_after: int = 3,
        fallback_cooldown_s: float = 30.0,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ):
        self.pool = EndpointPool(
            routes, fallbacks, eject_after=fallback_after, cooldown_s=fallback_cooldown_s, clock=clock
        )
        self.default_model = default_model if default_model is not None else routes[0].model
        self.max_tokens = max_tokens
        self.policy = policy
        self.aimd = gate_limit if isinstance(gate_limit, AimdController) else None
        self._fixed_limit = gate_limit if isinstance(gate_limit, int) else 0
        self.gate = ConcurrencyGate(lambda: self.limit)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.stats = EngineStats()

    @property
    def limit(self) -> int:
        """Calls allowed in flight now (the adaptive limit when ``auto_optimize`` is on)."""
        return self.aimd.current if self.aimd else self._fixed_limit

    @property
    def routes(self) -> list[Route]:
        """Every endpoint: the pool's, then the fallbacks."""
        return self.pool.every

    async def complete(
        self, messages: list[dict[str, str]], shape: AnswerFormat | None = None, model: str | None = None
    ) -> Completion:
        """One answer from an endpoint serving ``model`` (None: the default), retried across the endpoints;
        ``shape``: an act's or a survey's format, enforced as each endpoint can."""
        model = model or self.default_model
        if not self.pool.serves(model):
            self.stats.requests_failed += 1
            raise LLMFailure("no_endpoint", 0, f"no endpoint serves model {model!r}", "the endpoint pool")
        estimated = estimate_tokens(messages, self.max_tokens)
        attempt = 0
        tried: set[Route] = set()
        while True:
            attempt += 1
            await self.gate.acquire()
            inflight = self.gate.inflight
            started = 0.0
            route: Route | None = None
            try:
                route = await self.pool.acquire(model, tried, estimated)
                if route.fallback:
                    self.stats.fallbacks += 1
                await route.limiter.acquire(estimated)
                started = time.perf_counter()
                raw = await route.call(messages, self.max_tokens, shape, model)
            except Exception as exc:
                failure: Exception | None = exc
            else:
                failure = None
            finally:
                # Also on cancellation (a worker shutting down): a lost slot would shrink the gate for good.
                if route is not None:
                    self.pool.release(route)
                self.gate.release()
            assert route is not None or isinstance(failure, NoEndpoint)
            if failure is not None:
                exc = failure
                if route is None:
                    self.stats.requests_failed += 1
                    raise LLMFailure("no_endpoint", attempt, str(exc), "the endpoint pool") from exc
                kind = error_kind(exc)
                self.stats.calls[kind] += 1
                route.calls[kind] += 1
                if started:  # the call was made (not refused by the limiter)
                    self.stats.timed.call(route.model, time.perf_counter() - started, kind)
                retry_after = self._after_failure(route, kind, exc, estimated)
                tried.add(route)
                if not is_retryable(kind) or attempt >= self.policy.max_attempts:
                    self.stats.requests_failed += 1
                    raise LLMFailure(kind, attempt, str(exc)[:500], route.name) from exc
                self.stats.retries += 1
                await self._sleep(self.policy.delay(attempt, self._rng, retry_after))
                continue
            assert route is not None
            latency = time.perf_counter() - started
            self.stats.calls["success"] += 1
            route.calls["success"] += 1
            self.stats.timed.call(route.model, latency)
            self.stats.timed.usage(route.model, raw.prompt_tokens, raw.completion_tokens)
            self.pool.succeeded(route)
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
                cached_tokens=raw.cached_tokens,
            )

    def _after_failure(self, route: Route, kind: str, exc: Exception, estimated: int) -> float | None:
        """Update limits and the endpoint's health; returns the provider's Retry-After, if any."""
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
            self.pool.failed(route)
        return retry_after

    def set_share(self, share: float) -> None:
        """Pace every endpoint at ``share`` of its limits (this worker's part of its group's)."""
        self.pool.set_share(share)

    async def close(self) -> None:
        for route in self.routes:
            if route.close is not None:
                await route.close()


def build_engine(settings: Settings) -> LLMEngine:
    """The engine for these settings: the pool (or the one primary endpoint), then the fallbacks, in order."""
    aimd: AimdController | int = settings.max_concurrent
    if settings.auto_optimize:
        aimd = AimdController(settings.llm_min_concurrent, settings.max_concurrent)
    return LLMEngine(
        [_route(settings, endpoint) for endpoint in settings.llm_pool()],
        fallbacks=[_route(settings, endpoint) for endpoint in settings.llm_fallback_chain()],
        default_model=settings.default_model(),
        max_tokens=settings.llm_max_tokens,
        policy=RetryPolicy(settings.llm_max_attempts, settings.llm_backoff_base_s, settings.llm_backoff_cap_s),
        gate_limit=aimd,
        fallback_after=settings.llm_fallback_after,
        fallback_cooldown_s=settings.llm_fallback_cooldown_s,
    )


def _route(settings: Settings, endpoint: LLMEndpoint) -> Route:
    connections = settings.max_concurrent * 2
    if endpoint.max_concurrent is not None:
        connections = min(connections, endpoint.max_concurrent * 2)
    client = LLMClient(endpoint, timeout_s=settings.llm_timeout_s, max_connections=connections)
    limiter = RateLimiter(endpoint.rpm, endpoint.tpm, headroom=settings.llm_rate_headroom)
    return Route(
        name=client.name, call=client.call, limiter=limiter, close=client.close, model=endpoint.model,
        weight=endpoint.weight, max_concurrent=endpoint.max_concurrent,
    )  # fmt: skip
