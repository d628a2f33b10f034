"""Demo 4 of the source design: one call after another vs the pipeline, 100 agents, 100 ms per call.

The simulator answers every call in 100 ms. Sequential: the openai package's synchronous client, one
call at a time, as a plain loop would. Pipeline: the same 100 agents through Kafka and a stream worker.

    python examples/04_sync_vs_async.py [AGENTS]
"""

from __future__ import annotations

import asyncio
import sys
import time

import openai

from swarmstream import AsyncAgentManager, AsyncConfig

CONTEXT = "Say hello to your neighbours."


async def main(count: int) -> None:
    config = AsyncConfig(max_concurrent=100, batch_size=100, simulator_latency_ms=100)
    async with AsyncAgentManager(config=config) as manager:
        agents = await manager.create_agents_async(count=count)
        settings = manager.settings
        client = openai.OpenAI(base_url=settings.llm_base_url, api_key=settings.llm_api_key.get_secret_value())
        started = time.perf_counter()
        for agent in agents:
            client.chat.completions.create(
                model=settings.llm_model,
                max_tokens=settings.llm_max_tokens,
                messages=[
                    {"role": "system", "content": f"You are {agent.name}."},
                    {"role": "user", "content": CONTEXT},
                ],
            )
        sequential = time.perf_counter() - started
        client.close()

        started = time.perf_counter()
        answered = 0
        async for batch in manager.stream_interactions(agents, context=CONTEXT, batch_size=count):
            answered += sum(result.ok for result in batch)
        pipelined = time.perf_counter() - started
    print(f"sequential: {count} calls in {sequential:.2f} s")
    print(f"pipeline:   {answered} interactions in {pipelined:.2f} s")
    print(f"speed-up:   {sequential / pipelined:.1f}x")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100))
