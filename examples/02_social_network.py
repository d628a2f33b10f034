"""Demo 2 of the source design: building a social network.

300 agents, 10 LLM calls in flight, friendships with at most 5 per agent, requests in batches of 50.
Each friendship is a ``friend_request`` the asked agent decides with its LLM; accepted ones are recorded
by the graph consumer (mutual, capped) and told to both profiles. Then three named communities.

    python examples/02_social_network.py [AGENTS]
"""

from __future__ import annotations

import asyncio
import sys
import time

from swarmstream import AsyncAgentManager


async def main(count: int) -> None:
    async with AsyncAgentManager(max_concurrent=10, batch_size=100) as manager:
        agents = await manager.create_agents_async(count=count)
        started = time.perf_counter()
        friendships = await manager.build_friendships_async(agents, max_friends_per_agent=5, batch_size=50)
        elapsed = time.perf_counter() - started
        print(f"{friendships} friendships among {len(agents)} agents in {elapsed:.2f} s")
        print(f"average friends per agent: {2 * friendships / len(agents):.2f} (at most 5)")
        communities = await manager.create_communities_async(
            agents, ["gardeners", "coders", "travellers"], max_members_per_community=100
        )
        for name, members in communities.items():
            print(f"community {name}: {len(members)} members")
        metrics = manager.get_performance_metrics()
    for name, value in metrics.items():
        print(f"  {name:22} {value:,.2f}" if isinstance(value, float) else f"  {name:22} {value:,}")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
