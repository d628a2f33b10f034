"""``swarmstream bench ratelimit``: how close the engine runs to a provider's RPM/TPM limits.

The simulator enforces the limits and answers 429 beyond them; the engine is told the same
limits and must pace itself: high utilisation of the binding limit with almost no 429s.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from producers.personas import personas
from producers.requests import random_requests
from swarmstream.llm.engine import LLMFailure, build_engine
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings


async def simulator_stats(base_url: str) -> dict:
    root = base_url.rstrip("/").removesuffix("/v1")
    async with aiohttp.ClientSession() as session, session.get(f"{root}/stats") as response:
        return await response.json()


async def bench_ratelimit(settings: Settings, rpm: float, tpm: float, duration_s: float, agents: int = 1_000) -> str:
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
    return "\n".join(
        [
            f"swarmstream bench ratelimit: limits {rpm:,.0f} RPM / {tpm:,.0f} TPM, {elapsed_min * 60:.0f} s, "
            f"max_concurrent {settings.max_concurrent}, auto_optimize {settings.auto_optimize}",
            f"  achieved     {achieved_rpm:,.0f} RPM ({achieved_rpm / rpm:.1%}), "
            f"{achieved_tpm:,.0f} TPM ({achieved_tpm / tpm:.1%})",
            f"  binding      {binding_name} at {binding:.1%} of the limit",
            f"  429 answers  {rejected:,} of {calls:,} calls ({rejected / max(calls, 1):.2%})",
            f"  failed       {sum(failures.values()):,} requests {failures or ''}",
            f"  adaptive     final limit {engine.limit}, cuts {engine.aimd.cuts if engine.aimd else 0}",
        ]
    )
