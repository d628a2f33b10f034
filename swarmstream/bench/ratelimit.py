"""``swarmstream bench ratelimit``: how close the engine runs to a provider's RPM/TPM limits.

The simulator enforces the limits and answers 429 beyond them; the engine is told the same
limits and must pace itself: high utilisation of the binding limit with almost no 429s. With
``--workers N``, N worker processes of one group share the limits, each pacing at its share.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass

import aiohttp

from producers.personas import personas
from producers.requests import random_requests
from swarmstream.bench.result import BenchResult
from swarmstream.llm.engine import LLMFailure, build_engine
from swarmstream.metrics_http import scrape
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings


async def simulator_stats(base_url: str) -> dict:
    root = base_url.rstrip("/").removesuffix("/v1")
    async with aiohttp.ClientSession() as session, session.get(f"{root}/stats") as response:
        return await response.json()


async def bench_ratelimit(
    settings: Settings, rpm: float, tpm: float, duration_s: float, agents: int = 1_000
) -> BenchResult:
    from streams.profiles import apply
    from streams.prompts import build_messages

    simulator_args = ["--latency-ms", "100", "--sim-rpm", str(rpm), "--sim-tpm", str(tpm)]
    # No Kafka in this benchmark: naming any bootstrap address keeps LocalStack from starting a broker.
    with LocalStack(settings.model_copy(update={"bootstrap_servers": "unused:9092"}), simulator_args) as stack:
        settings = stack.settings.model_copy(update={"llm_rpm": rpm, "llm_tpm": tpm})
        engine = build_engine(settings)
        profiles = [apply(None, event) for event in personas(agents, seed=7)]
        requests = random_requests(10**9, agents, seed=7)
        failures: dict[str, int] = {}
        stop_at = time.monotonic() + duration_s

        async def caller() -> None:
            for request in requests:
                if time.monotonic() >= stop_at:
                    return
                index = int(request.agent_id.rsplit("-", 1)[1])
                try:
                    await engine.complete(build_messages(profiles[index], request))
                except LLMFailure as failure:
                    failures[failure.kind] = failures.get(failure.kind, 0) + 1

        assert stack.simulator is not None and settings.llm_base_url
        before = await simulator_stats(settings.llm_base_url)
        started = time.monotonic()
        try:
            await asyncio.gather(*(caller() for _ in range(settings.max_concurrent)))
        finally:
            await engine.close()
        elapsed_min = (time.monotonic() - started) / 60
        after = await simulator_stats(settings.llm_base_url)

    completions = after["completions"] - before["completions"]
    tokens = after["tokens"] - before["tokens"]
    rejected = after["rate_limited"] - before["rate_limited"]
    achieved_rpm, achieved_tpm = completions / elapsed_min, tokens / elapsed_min
    binding = max(achieved_rpm / rpm, achieved_tpm / tpm)
    binding_name = "RPM" if achieved_rpm / rpm >= achieved_tpm / tpm else "TPM"
    calls = completions + rejected
    figures = {
        "rpm": rpm, "tpm": tpm, "window_s": elapsed_min * 60, "max_concurrent": settings.max_concurrent,
        "auto_optimize": settings.auto_optimize, "achieved_rpm": achieved_rpm, "achieved_tpm": achieved_tpm,
        "binding": binding_name, "binding_utilisation": binding, "rejected": rejected, "calls": calls,
        "failed": failures, "final_limit": engine.limit, "cuts": engine.aimd.cuts if engine.aimd else 0,
    }  # fmt: skip
    return BenchResult(
        "ratelimit",
        figures,
        [
            f"swarmstream bench ratelimit: limits {rpm:,.0f} RPM / {tpm:,.0f} TPM, {elapsed_min * 60:.0f} s, "
            f"max_concurrent {settings.max_concurrent}, auto_optimize {settings.auto_optimize}",
            f"  achieved     {achieved_rpm:,.0f} RPM ({achieved_rpm / rpm:.1%}), "
            f"{achieved_tpm:,.0f} TPM ({achieved_tpm / tpm:.1%})",
            f"  binding      {binding_name} at {binding:.1%} of the limit",
            f"  429 answers  {rejected:,} of {calls:,} calls ({rejected / max(calls, 1):.2%})",
            f"  failed       {sum(failures.values()):,} requests {failures or ''}",
            f"  adaptive     final limit {engine.limit}, cuts {engine.aimd.cuts if engine.aimd else 0}",
        ],
    )


@dataclass(frozen=True)
class GroupRateResult:
    """A group of workers sharing one provider's limits: what the simulator saw over the window."""

    workers: int
    rpm: float
    tpm: float
    window_s: float
    completions: int
    tokens: int
    rejected: int
    shares: list[float]

    @property
    def achieved_rpm(self) -> float:
        return self.completions / (self.window_s / 60)

    @property
    def achieved_tpm(self) -> float:
        return self.tokens / (self.window_s / 60)

    @property
    def binding(self) -> tuple[str, float]:
        """The limit nearest to being used up, and its utilisation (0..1)."""
        by_rpm, by_tpm = self.achieved_rpm / self.rpm, self.achieved_tpm / self.tpm
        return ("RPM", by_rpm) if by_rpm >= by_tpm else ("TPM", by_tpm)

    @property
    def rejected_share(self) -> float:
        return self.rejected / max(self.completions + self.rejected, 1)

    def result(self) -> BenchResult:
        name, utilisation = self.binding
        figures = {
            **asdict(self), "achieved_rpm": self.achieved_rpm, "achieved_tpm": self.achieved_tpm,
            "binding": name, "binding_utilisation": utilisation, "rejected_share": self.rejected_share,
        }  # fmt: skip
        return BenchResult(
            "ratelimit",
            figures,
            [
                f"swarmstream bench ratelimit --workers {self.workers}: limits {self.rpm:,.0f} RPM / "
                f"{self.tpm:,.0f} TPM shared by {self.workers} worker processes (each told the whole limit), "
                f"{self.window_s:.0f} s window",
                f"  shares       {', '.join(f'{share:.3f}' for share in self.shares)} (sum {sum(self.shares):.3f})",
                f"  achieved     {self.achieved_rpm:,.0f} RPM, {self.achieved_tpm:,.0f} TPM",
                f"  binding {name} at {utilisation:.1%} of the limit; 429: {self.rejected_share:.2%} of "
                f"{self.completions + self.rejected:,} calls",
            ],
        )


async def bench_group_ratelimit(
    settings: Settings, workers: int, rpm: float, tpm: float, duration_s: float, agents: int = 1_000
) -> GroupRateResult:
    """``workers`` worker processes (one group) answer a backlog against a simulator enforcing ``rpm``/``tpm``.

    Every worker is told the whole limits, as a user configures one API key; each paces at its share.
    The window opens once every worker holds partitions and the shares add up to 1.
    """
    from producers.personas import persona_batches
    from swarmstream.publisher import EventPublisher
    from swarmstream.registration import wait_for_registration
    from swarmstream.runtime.process import free_port
    from swarmstream.transport import ensure_topics

    if workers < 1:
        raise ValueError("--workers must be at least 1")
    simulator_args = ["--latency-ms", "100", "--sim-rpm", str(rpm), "--sim-tpm", str(tpm)]
    with LocalStack(settings, simulator_args) as stack:
        settings = stack.settings.model_copy(update={"llm_rpm": rpm, "llm_tpm": tpm})
        stack.settings = settings
        await ensure_topics(settings)
        ports = [free_port() for _ in range(workers)]
        for port in ports:
            stack.start_worker(metrics_port=port)
        # A backlog for the whole window and the joins before it, at the limit's pace.
        backlog = int(rpm / 60 * (duration_s + 120) * 1.2)
        async with EventPublisher(settings) as publisher:
            await publisher.publish(settings.agents_topic, persona_batches(agents, 7, settings.partitions, 500))
            await stack.watch(wait_for_registration(settings, {f"agent-{i:07d}" for i in range(agents)}, 180))
            await publisher.publish_requests(random_requests(backlog, agents, seed=11))
        await stack.until_assigned(ports, 180)
        shares = await stack.watch(_settled_shares(settings, ports, 180))
        assert settings.llm_base_url
        before = await simulator_stats(settings.llm_base_url)
        started = time.monotonic()
        await stack.watch(asyncio.sleep(duration_s))
        window_s = time.monotonic() - started
        after = await simulator_stats(settings.llm_base_url)
        shares = await _shares(settings, ports)
    return GroupRateResult(
        workers=workers,
        rpm=rpm,
        tpm=tpm,
        window_s=window_s,
        completions=after["completions"] - before["completions"],
        tokens=after["tokens"] - before["tokens"],
        rejected=after["rate_limited"] - before["rate_limited"],
        shares=shares,
    )


async def _shares(settings: Settings, ports: list[int]) -> list[float]:
    """Each worker's ``swarmstream_llm_rate_share`` (-1: not exported yet)."""
    shares = []
    async with aiohttp.ClientSession() as session:
        for port in ports:
            found = await scrape(session, f"http://{settings.metrics_host}:{port}/metrics")
            shares.append(found.get("swarmstream_llm_rate_share", -1.0))
    return shares


async def _settled_shares(settings: Settings, ports: list[int], timeout_s: float) -> list[float]:
    """Until every worker has a share and they add up to the whole limit (a rebalance has settled)."""
    deadline = time.monotonic() + timeout_s
    while True:
        shares = await _shares(settings, ports)
        if all(share > 0 for share in shares) and abs(sum(shares) - 1) < 1e-9:
            return shares
        if time.monotonic() > deadline:
            raise TimeoutError(f"the workers' shares never settled: {shares}")
        await asyncio.sleep(0.5)
