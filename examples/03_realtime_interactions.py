"""Demo 3 of the source design: real-time interactions.

50 agents each answer one context; results arrive in batches of 10 as the workers answer them
(requests and replies correlated by id over the response topic). Written as the source design writes
it: no ``async with``; the first call starts the pipeline and ``close()`` stops it.

    python examples/03_realtime_interactions.py [AGENTS]
"""

from __future__ import annotations

import asyncio
import sys

from swarmstream import AsyncAgentManager


async def main(count: int) -> None:
    manager = AsyncAgentManager(max_concurrent=50, batch_size=100)
    agents = await manager.create_agents_async(count=count)
    total = 0
    context = "The community garden opens this weekend: what will you bring?"
    async for batch in manager.stream_interactions(agents, context=context, batch_size=10):
        total += len(batch)
        print(f"batch of {len(batch)} (total {total}): {batch[0].agent_id}: {batch[0].content}")
    metrics = manager.get_performance_metrics()
    await manager.close()
    print(f"{total} interactions")
    for name, value in metrics.items():
        print(f"  {name:22} {value:,.2f}" if isinstance(value, float) else f"  {name:22} {value:,}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50))
