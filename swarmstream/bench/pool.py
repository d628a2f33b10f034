"""``swarmstream bench pool``: the engine spreading calls over four simulators of different speeds and limits.

Each simulator enforces its own RPM limit (429 beyond it) and answers with its own latency; the engine is told
each endpoint's limit in ``SWARMSTREAM_LLM_ENDPOINTS`` (equal weights: the spread is the pool's doing). The
window has three phases: all four up; one killed (SIGKILL, mid-call); the same one started again, ejected until
its cooldown ends and probed back. Each phase's answered calls per second are set against the summed limits
of the endpoints up in it; every call must end answered (none failed, none lost).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from producers.personas import personas
from producers.requests import random_requests
from swarmstream.bench.result import BenchResult
from swarmstream.llm.engine import LLMEngine, LLMFailure, build_engine
from swarmstream.runtime.process import ChildProcess, free_port, python_module, wait_for_port
from swarmstream.settings import LLMEndpoint, Settings


@dataclass(frozen=True)
class Simulated:
    """One simulator of the pool: its mean latency and its RPM limit."""

    latency_ms: float
    rpm: float


# Different speeds and limits, 300 calls/s in all: what one 2-core machine drives with room to spare.
POOL = (Simulated(50, 3_600), Simulated(200, 7_200), Simulated(500, 1_800), Simulated(100, 5_400))
KILLED = 1  # the one with the largest limit: its share is the most to move


@dataclass
class Phase:
    name: str
    seconds: float
    answered: Counter[str]  # by endpoint
    rejected: int  # 429s
    capacity_per_s: float

    @property
    def per_s(self) -> float:
        return sum(self.answered.values()) / self.seconds if self.seconds else 0.0

    @property
    def utilisation(self) -> float:
        return self.per_s / self.capacity_per_s if self.capacity_per_s else 0.0

    @property
    def rejected_share(self) -> float:
        calls = sum(self.answered.values()) + self.rejected
        return self.rejected / calls if calls else 0.0


async def bench_pool(
    settings: Settings,
    duration_s: float,
    cooldown_s: float,
    work_dir: Path,
    pool: tuple[Simulated, ...] = POOL,
) -> BenchResult:
    """The ``pool``'s simulators for ``duration_s``: the middle third with the second of them killed."""
    from streams.profiles import apply
    from streams.prompts import build_messages

    work_dir.mkdir(parents=True, exist_ok=True)
    ports = [free_port() for _ in pool]
    simulators = [_simulator(i, sim, port, work_dir) for i, (sim, port) in enumerate(zip(pool, ports, strict=True))]
    try:
        for simulator, port in zip(simulators, ports, strict=True):
            wait_for_port("127.0.0.1", port, 30, simulator)
        endpoints = [
            LLMEndpoint(base_url=f"http://127.0.0.1:{port}/v1", model=settings.llm_model, rpm=sim.rpm)
            for sim, port in zip(pool, ports, strict=True)
        ]
        settings = settings.model_copy(
            update={"llm_endpoints": endpoints, "llm_fallback_cooldown_s": cooldown_s, "llm_base_url": None}
        )
        engine = build_engine(settings)
        names = [route.name for route in engine.routes]
        profiles = [apply(None, event) for event in personas(1_000, seed=7)]
        requests = iter(random_requests(10**9, 1_000, seed=7))
        failed: Counter[str] = Counter()
        issued = answered = 0
        stop = asyncio.Event()

        async def caller() -> None:
            nonlocal issued, answered
            while not stop.is_set():
                request = next(requests)
                issued += 1
                try:
                    await engine.complete(build_messages(profiles[int(request.agent_id[-7:])], request))
                    answered += 1
                except LLMFailure as failure:
                    failed[failure.kind] += 1

        callers = [asyncio.create_task(caller()) for _ in range(settings.max_concurrent)]
        third = duration_s / 3
        phases: list[Phase] = []
        try:
            phases.append(await _phase(engine, "all four up", third, _capacity(pool, range(len(pool)))))
            simulators[KILLED].kill()
            killed_at = time.monotonic()
            up = [index for index in range(len(pool)) if index != KILLED]
            phases.append(await _phase(engine, f"endpoint {KILLED} killed", third, _capacity(pool, up)))
            simulators[KILLED] = _simulator(KILLED, pool[KILLED], ports[KILLED], work_dir)
            restarted_at = time.monotonic()
            wait_for_port("127.0.0.1", ports[KILLED], 30, simulators[KILLED])
            back = engine.routes[KILLED]
            before = back.calls["success"]
            rejoined_s = await _until(lambda: back.calls["success"] > before, third)
            rest = max(0.0, third - rejoined_s)
            phases.append(await _phase(engine, "back, after its probe", rest, _capacity(pool, range(len(pool)))))
            ejected_s = restarted_at - killed_at
        finally:
            stop.set()
            await asyncio.gather(*callers, return_exceptions=True)
            await engine.close()
    finally:
        for simulator in simulators:
            simulator.stop()
    figures = {
        "duration_s": duration_s, "cooldown_s": cooldown_s, "max_concurrent": settings.max_concurrent,
        "endpoints": [{"name": n, "latency_ms": s.latency_ms, "rpm": s.rpm} for n, s in zip(names, pool, strict=True)],
        "phases": [
            {"name": p.name, "seconds": p.seconds, "per_s": p.per_s, "capacity_per_s": p.capacity_per_s,
             "utilisation": p.utilisation, "rejected": p.rejected, "rejected_share": p.rejected_share,
             "answered": dict(p.answered)}
            for p in phases
        ],
        "issued": issued, "answered": answered, "failed": dict(failed), "lost": issued - answered - failed.total(),
        "ejections": engine.routes[KILLED].ejections, "killed_for_s": ejected_s, "rejoined_after_s": rejoined_s,
    }  # fmt: skip
    lines = [
        f"swarmstream bench pool: {len(pool)} simulators, {duration_s:.0f} s, "
        f"max_concurrent {settings.max_concurrent}, cooldown {cooldown_s:g} s",
        *(
            f"  endpoint {i}: {sim.latency_ms:g} ms, {sim.rpm:,.0f} RPM ({name})"
            for i, (name, sim) in enumerate(zip(names, pool, strict=True))
        ),
    ]
    for phase in phases:
        shares = ", ".join(f"{phase.answered[name] / phase.seconds:.0f}" for name in names)
        lines.append(
            f"  {phase.name:22} {phase.seconds:5.1f} s  {phase.per_s:6.1f} calls/s of {phase.capacity_per_s:.0f} "
            f"({phase.utilisation:.1%}); 429: {phase.rejected_share:.2%}; per endpoint {shares}"
        )
    listed = f" {dict(failed)}" if failed else ""
    lines.append(
        f"  calls: {issued:,} issued, {answered:,} answered, {failed.total():,} failed{listed}, "
        f"{issued - answered - failed.total():,} lost; the killed one rejoined {rejoined_s:.1f} s after its restart "
        f"({engine.routes[KILLED].ejections} ejection(s))"
    )
    return BenchResult("pool", figures, lines)


def _simulator(index: int, sim: Simulated, port: int, work_dir: Path) -> ChildProcess:
    argv = python_module(
        "swarmstream", "llm-sim", "--port", str(port), "--latency", "lognormal", "--latency-ms", str(sim.latency_ms),
        "--sim-rpm", str(sim.rpm), "--sim-seed", str(index),
    )  # fmt: skip
    return ChildProcess(f"simulator {index}", argv, log_path=work_dir / f"llm-sim-{index}.log")


def _capacity(pool: tuple[Simulated, ...], indexes: Iterable[int]) -> float:
    """Calls per second the endpoints ``indexes`` allow together."""
    return sum(pool[index].rpm / 60 for index in indexes)


async def _phase(engine: LLMEngine, name: str, seconds: float, capacity_per_s: float) -> Phase:
    """What the endpoints answered over the next ``seconds``."""
    before = {route.name: (route.calls["success"], route.calls["rate_limited"]) for route in engine.routes}
    started = time.monotonic()
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    answered: Counter[str] = Counter()
    rejected = 0
    for route in engine.routes:
        success, limited = before[route.name]
        answered[route.name] = route.calls["success"] - success
        rejected += route.calls["rate_limited"] - limited
    return Phase(name, elapsed, answered, rejected, capacity_per_s)


async def _until(condition: Callable[[], bool], timeout_s: float) -> float:
    """Seconds until ``condition()`` holds (``timeout_s`` at most)."""
    started = time.monotonic()
    while not condition() and time.monotonic() - started < timeout_s:
        await asyncio.sleep(0.05)
    return time.monotonic() - started
