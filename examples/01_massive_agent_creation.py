"""Demo 1 of the source design: massive agent creation.

500 agents, 20 LLM calls in flight per worker, batches of 100, adaptive concurrency on. Each agent is
created by an ``agents.created`` event and counted once a stream worker has registered its profile.

    python examples/01_massive_agent_creation.py [COUNT]
"""

from __future__ import annotations

import asyncio
import sys
import time

from swarmstream import AsyncAgentManager, AsyncConfig


async def main(count: int) -> None:
    config = AsyncConfig(max_concurrent=20, batch_size=100, auto_optimize=True)
    started = time.perf_counter()
    async with AsyncAgentManager(config=config) as manager:
        ready = time.perf_counter()
        print(f"pipeline up in {ready - started:.1f} s (embedded broker, LLM simulator, one stream worker)")
        agents = await manager.create_agents_async(count=count)
        elapsed = time.perf_counter() - ready
    print(f"created {len(agents)} agents in {elapsed:.2f} s ({len(agents) / elapsed:,.0f} agents/s)")
    print(f"first: {agents[0].agent_id} {agents[0].name!r}, interests {', '.join(agents[0].interests)}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
