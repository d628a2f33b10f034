"""``swarmstream simulate``: a society's rounds on the embedded default or any cluster, resumable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiokafka import TopicPartition

from consumers.graph import GraphConsumer
from producers.personas import persona_batches
from swarmstream.agent_ids import agent_id
from swarmstream.progress import progress_bar
from swarmstream.publisher import EventPublisher
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.society.config import RunConfig
from swarmstream.society.rounds import Society
from swarmstream.society.run_log import read_run
from swarmstream.society.summaries import RoundSummary, SimulationResult
from swarmstream.topics import workers_warning
from swarmstream.transport import ensure_topics, fetch_highwaters

log = logging.getLogger(__name__)


async def simulate(
    settings: Settings,
    config: RunConfig | None = None,
    resume: str | None = None,
    workers: int = 1,
    show_progress: bool = True,
) -> SimulationResult:
    """Run ``config`` (creating its society first), or continue run ``resume`` at its first incomplete round."""
    result = SimulationResult(config, [], None)
    async for _ in run_rounds(settings, result, resume, workers, show_progress):
        pass
    return result


async def run_rounds(
    settings: Settings, result: SimulationResult, resume: str | None, workers: int, show_progress: bool
) -> AsyncIterator[RoundSummary]:
    """Each round's summary as it ends, also kept in ``result`` (with the run's config and how it ended)."""
    with LocalStack(settings) as stack:
        settings = stack.settings
        await ensure_topics(settings)
        # Workers only where this process started the broker: a cluster's deployment runs its own.
        if stack.broker is not None and (warning := workers_warning(settings.partitions, workers)):
            log.warning("%s", warning)
        for _ in range(workers if stack.broker is not None else 0):
            stack.start_worker()
        done: dict[int, RoundSummary] = {}
        if resume is not None:
            result.config, done, _ = await read_run(settings, resume)
        config = result.config
        if config is None:
            raise ValueError("a run needs its config, or the id of one to resume")
        # This run's graph: friendships formed and edges made in its rounds, in a file of its own that a
        # resumed run (its graph consumer's group committed as far as the file holds) goes on with.
        settings = settings.with_run_graph(config.run_id)
        stop = asyncio.Event()
        # A new run's graph reads the responses from where they end now; a resumed one from its group's commits.
        start_at = None
        if resume is None:
            responses = [TopicPartition(settings.responses_topic, p) for p in range(settings.partitions)]
            start_at = await fetch_highwaters(settings, responses)
        graph = GraphConsumer(settings, group_suffix=f"graph-run-{config.run_id}", start_at=start_at)
        graph_task = asyncio.create_task(graph.run(stop))

        def check() -> None:
            stack.check_workers()
            if graph_task.done():
                graph_task.result()

        try:
            async with EventPublisher(settings) as publisher:
                if resume is None:
                    await _create_society(stack, settings, publisher, config, show_progress)
                society = Society(settings, publisher, graph, config, show_progress, check)
                async for summary in society.run(done):
                    result.rounds.append(summary)
                    yield summary
                result.ended = society.ended
        finally:
            stop.set()
            await asyncio.wait([graph_task], timeout=30)
            graph.store.close()


async def _create_society(
    stack: LocalStack, settings: Settings, publisher: EventPublisher, config: RunConfig, show_progress: bool
) -> None:
    with progress_bar(config.agents, "create agents", show_progress, "agents") as bar:
        batches = persona_batches(config.agents, config.seed, settings.partitions, settings.agent_batch_size)
        await publisher.publish(settings.agents_topic, batches)
        ids = {agent_id(i) for i in range(config.agents)}
        await stack.watch(wait_for_registration(settings, ids, 120 + config.agents / 1000, bar.update))
