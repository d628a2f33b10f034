"""``swarmstream simulate``: a society's rounds on the embedded default or any cluster, resumable."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace

from swarmstream.events import BatchSubmitted
from swarmstream.llm.probe import probe_endpoints
from swarmstream.progress import say
from swarmstream.publisher import EventPublisher
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.society.config import RunConfig, check_models
from swarmstream.society.estimate import check_budget
from swarmstream.society.interventions import check_agents
from swarmstream.society.population import PopulationSource, ready_population
from swarmstream.society.rounds import Society
from swarmstream.society.run_consumers import RunConsumers
from swarmstream.society.run_log import read_run_history
from swarmstream.society.summaries import RoundSummary, SimulationResult
from swarmstream.topics import workers_warning
from swarmstream.transport import ensure_topics

log = logging.getLogger(__name__)


async def simulate(
    settings: Settings,
    config: RunConfig | None = None,
    resume: str | None = None,
    workers: int = 1,
    show_progress: bool = True,
    source: PopulationSource | None = None,
) -> SimulationResult:
    """Run ``config`` over the population ``source`` says, or continue run ``resume`` at its first incomplete
    round."""
    result = SimulationResult(config, [], None)
    async for _ in run_rounds(settings, result, resume, workers, show_progress, source or PopulationSource()):
        pass
    return result


async def run_rounds(
    settings: Settings,
    result: SimulationResult,
    resume: str | None,
    workers: int,
    show_progress: bool,
    source: PopulationSource,
) -> AsyncIterator[RoundSummary]:
    """Each round's summary as it ends, also kept in ``result`` (with the run's config and how it ended)."""
    run_id = resume or (result.config.run_id if result.config is not None else None)
    if run_id is None:
        raise ValueError("a run needs its config, or the id of one to resume")
    # An endpoint that cannot serve fails the run now, in a line: a given one before anything starts.
    own_endpoint = settings.has_own_llm
    if own_endpoint:
        await probe_endpoints(settings)
    with LocalStack(settings, work_dir=settings.run_dir(run_id) / "logs") as stack:
        settings = stack.settings
        if not own_endpoint:
            await probe_endpoints(settings)
        await ensure_topics(settings)
        # Workers only where this process started the broker: a cluster's deployment runs its own.
        if stack.broker is not None and (warning := workers_warning(settings.partitions, workers)):
            log.warning("%s", warning)
        for _ in range(workers if stack.broker is not None else 0):
            stack.start_worker()
        done: dict[int, RoundSummary] = {}
        applied: set[int] = set()
        batches: list[BatchSubmitted] = []
        if resume is not None:
            result.config, done, _, applied, batches = await read_run_history(settings, resume)
        config = result.config
        assert config is not None
        check_models(settings, config)
        # This run's graph and record, in its run directory; a resumed run's go on from their groups' commits.
        async with RunConsumers(settings, config.run_id, resumed=resume is not None) as consumers:
            settings = consumers.settings
            result.record_dir = consumers.record_dir

            def check() -> None:
                stack.check_workers()
                consumers.check()

            if resume is None:
                await stack.watch(ready_population(settings, source, config.seed, show_progress, check), check)
                if config.plan is not None:
                    await check_agents(settings, config.plan)
                config = result.config = replace(config, agents=await consumers.seed_graph())
                estimate = await check_budget(settings, config, show_progress)
                if estimate is not None:
                    say(f"estimate {estimate.headline()}: within --budget-usd {config.budget_usd:g}")
            # Named once there is a run to resume: a population refused above leaves none.
            say(
                f"run {config.run_id} (resume it with: swarmstream simulate --resume {config.run_id}); "
                f"its record: {consumers.record_dir or 'none (SWARMSTREAM_RUN_RECORD is off)'}"
            )
            async with EventPublisher(settings) as publisher:
                assert consumers.graph is not None
                society = Society(
                    settings, publisher, consumers.graph, config, show_progress, check, applied=applied, batches=batches
                )
                async for summary in society.run(done, resumed=resume is not None):
                    result.rounds.append(summary)
                    yield summary
                result.end(society.ended)
            await consumers.finish(lambda caught_up: stack.watch(caught_up, check))
