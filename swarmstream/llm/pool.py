"""Which endpoint a call goes to: of the pool's endpoints serving its model, a healthy one with the fewest
outstanding calls for its weight; the fallback chain when every one of them is ejected.

A call goes to an endpoint whose rate limits let it start now where there is one, so each is given its rate
and no more; among those (or when none can start now), to the fewest outstanding calls for its weight. A call
is outstanding from the moment it is routed until it ends, its wait for the endpoint's limits included: an
endpoint answering slowly holds more outstanding calls and so is given fewer, and the calls spread by what
each endpoint can take, not by turns. An endpoint failing
``eject_after`` times in a row (5xx, timeouts, refused connections: not a 429, which only pauses it) is
ejected for a cooldown, then given one call, its probe: an answer brings it back, a failure ejects it again
for twice as long (up to :data:`MAX_COOLDOWN_FACTOR` times). An endpoint whose model is ``*`` serves any model
(a gateway, the simulator), under one set of limits.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from swarmstream.action_space import AnswerFormat
from swarmstream.llm.client import RawCompletion
from swarmstream.llm.ratelimit import RateLimiter
from swarmstream.settings import ANY_MODEL

# (messages, max_tokens, the answer's format (an act's, a survey's) or None, the model asked for) -> the answer.
Caller = Callable[[list[dict[str, str]], int, AnswerFormat | None, str], Awaitable[RawCompletion]]
Clock = Callable[[], float]
MAX_COOLDOWN_FACTOR = 8


@dataclass(eq=False)
class Route:
    """One endpoint: its caller and limiter, and what the pool knows of it (load, failures, ejection)."""

    name: str
    call: Caller
    limiter: RateLimiter
    close: Callable[[], Awaitable[None]] | None = None
    model: str = ""  # the model requested from this endpoint
    weight: float = 1.0
    max_concurrent: int | None = None  # the whole group's; ``cap`` is this worker's share of it
    fallback: bool = False
    cap: int | None = None
    outstanding: int = 0
    failures: int = 0  # in a row
    ejected_until: float = 0.0  # 0: in the pool; else out until then, and then probed
    probing: bool = False
    cooldown_factor: int = 1
    ejections: int = 0
    calls: Counter[str] = field(default_factory=Counter)  # attempts by outcome

    def ejected(self, now: float) -> bool:
        return self.ejected_until > now

    def open_to(self, now: float) -> bool:
        """Not ejected, and not on probation with its probe still out."""
        return self.ejected_until <= now and not (self.ejected_until and self.probing)

    def full(self) -> bool:
        return self.cap is not None and self.outstanding >= self.cap

    def set_share(self, share: float) -> None:
        self.limiter.set_share(share)
        if self.max_concurrent is not None:
            self.cap = max(1, int(self.max_concurrent * share))


class NoEndpoint(LookupError):
    """No endpoint of the pool or the fallback chain serves the model a call asks for."""


class EndpointPool:
    """The pool's routes by model, then the fallback chain; routes calls and keeps each endpoint's health."""

    def __init__(
        self,
        routes: list[Route],
        fallbacks: list[Route] | None = None,
        *,
        eject_after: int = 3,
        cooldown_s: float = 30.0,
        clock: Clock,
    ):
        if not routes:
            raise ValueError("the pool needs at least one endpoint")
        self.routes = routes
        self.fallbacks = fallbacks or []
        for route in self.fallbacks:
            route.fallback = True
        self.by_model: dict[str, list[Route]] = {}
        for route in routes:
            self.by_model.setdefault(route.model, []).append(route)
        self._any = self.by_model.pop(ANY_MODEL, [])
        self.eject_after = eject_after
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._freed: list[asyncio.Future[None]] = []

    @property
    def every(self) -> list[Route]:
        return [*self.routes, *self.fallbacks]

    def serves(self, model: str) -> bool:
        return model in self.by_model or bool(self._any) or bool(self.fallbacks)

    async def acquire(self, model: str, tried: set[Route], tokens: float = 0) -> Route:
        """A route for one call of ``model`` costing about ``tokens`` (counted outstanding until :meth:`release`),
        not one of ``tried`` when another will do; waits while every open one is at its ``max_concurrent``."""
        while True:
            route = self._pick(model, tried, tokens)
            if route is not None:
                route.outstanding += 1
                if route.ejected_until:
                    route.probing = True  # its cooldown is over: this call is its probe
                return route
            future = asyncio.get_running_loop().create_future()
            self._freed.append(future)
            await future

    def release(self, route: Route) -> None:
        route.outstanding -= 1
        route.probing = False
        freed, self._freed = self._freed, []
        for future in freed:
            if not future.done():
                future.set_result(None)

    def _pick(self, model: str, tried: set[Route], tokens: float) -> Route | None:
        now = self._clock()
        group = [*self.by_model.get(model, ()), *self._any]
        open_ = [route for route in group if route.open_to(now)]
        if not open_:
            open_ = [route for route in self.fallbacks if route.open_to(now)][:1]
        if not open_:
            # Everything is ejected: the one back first (a call waits rather than fails for want of an endpoint).
            candidates = group or self.fallbacks
            if not candidates:
                raise NoEndpoint(f"no endpoint serves model {model!r}")
            return min(candidates, key=lambda route: route.ejected_until)
        free = [route for route in open_ if not route.full()]
        if not free:
            return None
        if len(free) == 1:
            return free[0]
        # Another endpoint than the ones this call failed on, one whose rate limits let the call start now (so
        # that each is given its rate and no more), then the least loaded for its weight.
        return min(
            free,
            key=lambda route: (
                route in tried,
                route.limiter.delay_for(tokens) > 0,
                (route.outstanding + 1) / route.weight,
            ),
        )

    def succeeded(self, route: Route) -> None:
        route.failures = 0
        route.ejected_until = 0.0
        route.cooldown_factor = 1

    def failed(self, route: Route) -> None:
        """A failure that says the endpoint is unwell (not a 429): counted, and it is ejected when that is the
        ``eject_after``-th in a row or its probe failed."""
        now = self._clock()
        if route.ejected(now) or len(self.every) == 1:
            return  # already out (a call sent before it was ejected), or nowhere else to go
        route.failures += 1
        probe_failed = bool(route.ejected_until)
        if probe_failed or route.failures >= self.eject_after:
            if probe_failed:
                route.cooldown_factor = min(MAX_COOLDOWN_FACTOR, route.cooldown_factor * 2)
            route.failures = 0
            route.ejections += 1
            route.ejected_until = now + self.cooldown_s * route.cooldown_factor

    def set_share(self, share: float) -> None:
        for route in self.every:
            route.set_share(share)
