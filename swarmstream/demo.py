"""The main job: a whole society on the pipeline, from agent creation to a summary."""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import asdict, dataclass

from consumers.graph import GraphConsumer
from consumers.metrics import MetricsConsumer
from producers.personas import agent_id, persona_batches
from producers.publisher import EventPublisher
from producers.requests import random_requests
from swarmstream.progress import Progress, progress_bar
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics


@dataclass(frozen=True)
class DemoSummary:
    agents_registered: int
    interactions_requested: int
    interactions_answered: int
    dead_lettered: int
    duplicates: int
    wall_time_s: float
    interactions_wall_time_s: float
    interactions_per_s: float
    llm_latency_ms_p50: float
    llm_latency_ms_p95: float
    llm_latency_ms_p99: float
    peak_inflight_llm_calls: int
    graph_nodes: int
    graph_edges: int

    def render(self) -> str:
        def ms(value: float) -> str:
            return "n/a" if math.isnan(value) else f"{value:.1f} ms"

        return "\n".join(
            [
                "swarmstream demo summary",
                f"  agents registered      {self.agents_registered:,}",
                f"  interactions answered  {self.interactions_answered:,} of {self.interactions_requested:,}",
                f"  dead-lettered          {self.dead_lettered:,}",
                f"  duplicates (replays)   {self.duplicates:,}",
                f"  wall time              {self.wall_time_s:.1f} s "
                f"(interactions: {self.interactions_wall_time_s:.1f} s)",
                f"  interactions/s         {self.interactions_per_s:,.0f}",
                f"  LLM latency p50/95/99  {ms(self.llm_latency_ms_p50)} / {ms(self.llm_latency_ms_p95)} / "
                f"{ms(self.llm_latency_ms_p99)}",
                f"  peak in-flight LLM     {self.peak_inflight_llm_calls:,}",
                f"  graph                  {self.graph_nodes:,} nodes, {self.graph_edges:,} edges",
            ]
        )

    def to_json(self) -> str:
        return json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()})


async def run_demo(
    settings: Settings,
    agents: int,
    interactions: int,
    seed: int = 7,
    workers: int = 1,
    timeout_s: float | None = None,
    show_progress: bool = True,
    simulator_args: list[str] | None = None,
) -> DemoSummary:
    if agents < 2:
        raise ValueError("--agents must be at least 2")
    if interactions < 0:
        raise ValueError("--interactions must not be negative")
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    # Generous: group joins on the embedded broker alone take up to ~20 s.
    timeout_s = timeout_s or 120 + (agents + interactions) / 100
    started = time.monotonic()
    with LocalStack(settings, simulator_args) as stack:
        # This run's graph only: a file left by an earlier run would be counted in.
        settings = stack.settings.model_copy(update={"graph_db_path": str(stack.run_dir / "graph.sqlite3")})
        await ensure_topics(settings)
        for _ in range(workers):
            stack.start_worker()

        stop = asyncio.Event()
        metrics, graph = MetricsConsumer(settings), GraphConsumer(settings)
        runners = [asyncio.create_task(metrics.run(stop)), asyncio.create_task(graph.run(stop))]
        try:
            async with EventPublisher(settings) as publisher:
                with progress_bar(agents, "publish agents", show_progress, "agents") as bar:
                    await publisher.publish(
                        settings.agents_topic,
                        persona_batches(agents, seed, settings.partitions, settings.agent_batch_size),
                        bar,
                    )
                with progress_bar(agents, "register agents", show_progress, "agents") as bar:
                    ids = {agent_id(i) for i in range(agents)}
                    await stack.watch(wait_for_registration(settings, ids, timeout_s, bar.update))

                interactions_started = time.monotonic()
                with progress_bar(interactions, "publish interactions", show_progress) as bar:
                    await publisher.publish_requests(random_requests(interactions, agents, seed), bar)
            with progress_bar(interactions, "answer interactions", show_progress) as bar:
                await stack.watch(_until_settled(metrics, interactions, timeout_s, bar))
            interactions_s = time.monotonic() - interactions_started
            # The graph consumer reads the same responses; let it catch up before counting.
            await stack.watch(_until_graph_caught_up(graph, metrics, timeout_s=60))
        finally:
            stop.set()
            await asyncio.gather(*runners, return_exceptions=True)

        result = metrics.stats.summary()
        nodes, edges = graph.store.counts()
        graph.store.close()
    return DemoSummary(
        agents_registered=agents,
        interactions_requested=interactions,
        interactions_answered=result.answered,
        dead_lettered=result.dead_lettered,
        duplicates=result.duplicates,
        wall_time_s=time.monotonic() - started,
        interactions_wall_time_s=interactions_s,
        interactions_per_s=result.answered / interactions_s if interactions_s > 0 else 0.0,
        llm_latency_ms_p50=result.llm_latency_ms_p50,
        llm_latency_ms_p95=result.llm_latency_ms_p95,
        llm_latency_ms_p99=result.llm_latency_ms_p99,
        peak_inflight_llm_calls=result.peak_inflight,
        graph_nodes=nodes,
        graph_edges=edges,
    )


async def _until_settled(metrics: MetricsConsumer, expected: int, timeout_s: float, bar: Progress) -> None:
    deadline = time.monotonic() + timeout_s
    done = 0
    while done < expected:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {done} of {expected} interactions settled after {timeout_s:.0f} s")
        await asyncio.sleep(0.2)
        settled = len(metrics.stats.answered) + len(metrics.stats.dead_letter_ids)
        bar.update(settled - done)
        done = settled


async def _until_graph_caught_up(graph: GraphConsumer, metrics: MetricsConsumer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    target = len(metrics.stats.answered)
    while time.monotonic() < deadline:
        seen = graph.store.processed_count()
        if seen >= target:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the graph consumer did not catch up with the responses")
