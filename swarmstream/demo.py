"""The main job: a whole society on the pipeline, from agent creation to a summary."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import signal
import time
from dataclasses import asdict, dataclass, field

from consumers.graph import GraphConsumer
from consumers.metrics import MetricsConsumer
from producers.personas import persona_batches
from producers.requests import random_requests
from swarmstream.agent_ids import agent_id
from swarmstream.llm.probe import probe_endpoints
from swarmstream.progress import Progress, Tally, progress_bar, say
from swarmstream.publisher import EventPublisher
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.lifeline import stop_on_signals
from swarmstream.runtime.process import free_port
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.topics import workers_warning
from swarmstream.transport import ensure_topics
from swarmstream.waits import watched, workers_diagnosis

log = logging.getLogger(__name__)


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
    # Peak resident memory of each process, in bytes: the workers, the simulator, the broker, and the
    # demo's own (publisher, graph and metrics consumers).
    peak_rss_bytes: dict[str, int] = field(default_factory=dict)
    # Each worker's longest event-loop block and longest garbage collection, in seconds (its /metrics).
    loop_block_max_s: dict[str, float] = field(default_factory=dict)
    gc_pause_max_s: dict[str, float] = field(default_factory=dict)
    # Interrupted (SIGINT, SIGTERM): the figures so far, and the signal and the stage it came in.
    partial: bool = False
    interrupted_by: str | None = None
    stage: str | None = None
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def llm_failures(self) -> int:
        """Interactions dead-lettered because the LLM failed them (the endpoint, its key, its limits)."""
        return sum(count for reason, count in self.dead_letter_reasons.items() if reason.startswith("llm_"))

    @property
    def settled(self) -> bool:
        """Every interaction requested was answered or dead-lettered, none for an LLM failure, and the run was
        not cut short."""
        every = self.interactions_answered + self.dead_lettered == self.interactions_requested
        return not self.partial and every and not self.llm_failures

    def render(self) -> str:
        def ms(value: float) -> str:
            return "n/a" if math.isnan(value) else f"{value:.1f} ms"

        title = "swarmstream demo summary"
        if self.partial:
            title += f" (PARTIAL: interrupted by {self.interrupted_by} while {self.stage})"
        return "\n".join(
            [
                title,
                f"  agents registered      {self.agents_registered:,}",
                f"  interactions answered  {self.interactions_answered:,} of {self.interactions_requested:,}",
                f"  dead-lettered          {self.dead_lettered:,}"
                + (f" ({', '.join(f'{r} {n:,}' for r, n in sorted(self.dead_letter_reasons.items()))})"
                   if self.dead_letter_reasons else ""),
                f"  duplicates (replays)   {self.duplicates:,}",
                f"  wall time              {self.wall_time_s:.1f} s "
                f"(interactions: {self.interactions_wall_time_s:.1f} s)",
                f"  interactions/s         {self.interactions_per_s:,.0f}",
                f"  LLM latency p50/95/99  {ms(self.llm_latency_ms_p50)} / {ms(self.llm_latency_ms_p95)} / "
                f"{ms(self.llm_latency_ms_p99)}",
                f"  peak in-flight LLM     {self.peak_inflight_llm_calls:,}",
                f"  graph                  {self.graph_nodes:,} nodes, {self.graph_edges:,} edges",
                *(
                    [
                        "  peak RSS               "
                        + ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in self.peak_rss_bytes.items())
                    ]
                    if self.peak_rss_bytes
                    else []
                ),
                *(
                    [
                        "  longest loop block     "
                        + ", ".join(
                            f"{name} {block * 1000:,.0f} ms (GC {self.gc_pause_max_s.get(name, math.nan) * 1000:,.0f})"
                            for name, block in self.loop_block_max_s.items()
                        )
                    ]
                    if self.loop_block_max_s
                    else []
                ),
            ]
        )

    def to_json(self) -> str:
        return json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in asdict(self).items()})


# Scraped from each worker at the end: its longest event-loop block and longest garbage collection.
BLOCK_METRICS = ("swarmstream_event_loop_block_max_seconds", "swarmstream_gc_pause_max_seconds")


@dataclass
class _Run:
    """What the demo has done so far: enough for a summary at any point."""

    stage: str = "starting the pipeline"
    registered: int = 0
    requested: int = 0
    interactions_started: float | None = None
    interactions_s: float | None = None


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
    if warning := workers_warning(settings.partitions, workers):
        log.warning("%s", warning)
    # Generous: group joins on the embedded broker alone take up to ~20 s.
    timeout_s = timeout_s or 120 + (agents + interactions) / 100
    started = time.monotonic()
    run = _Run()
    # SIGINT or SIGTERM: stop where we are, stop every process started here, and still print a summary.
    interrupted: list[str] = []
    task = asyncio.current_task()
    assert task is not None

    def interrupt(signum: signal.Signals) -> None:
        if not interrupted:
            interrupted.append(signum.name)
            task.cancel()

    # Room to stop the children (each SIGTERM, then SIGKILL after 10 s) and print the summary.
    stop_on_signals(interrupt, grace_s=60)
    if settings.has_own_llm:  # an endpoint that cannot serve: said now, before anything starts
        await probe_endpoints(settings)
    with LocalStack(settings, simulator_args) as stack:
        # This run's graph only: a file left by an earlier run would be counted in.
        settings = stack.settings.model_copy(update={"graph_db_path": str(stack.work_dir / "graph.sqlite3")})
        stop = asyncio.Event()
        metrics, graph = MetricsConsumer(settings), GraphConsumer(settings)
        runners: list[asyncio.Task[None]] = []
        try:
            await ensure_topics(settings)
            for _ in range(workers):
                stack.start_worker(metrics_port=free_port(settings.metrics_host))
            runners += [asyncio.create_task(metrics.run(stop)), asyncio.create_task(graph.run(stop))]
            await _society(stack, settings, metrics, graph, run, agents, interactions, seed, timeout_s, show_progress)
        except asyncio.CancelledError:
            if not interrupted:
                raise
            task.uncancel()
        finally:
            stop.set()
            # Bounded: with the broker gone (a signal to the whole process group), consumers may not stop.
            await asyncio.wait(runners, timeout=10) if runners else None
        result = metrics.stats.summary()
        peaks = stack.peak_memory()
        blocks = await stack.worker_metrics(BLOCK_METRICS)
        nodes, edges = graph.store.counts()
        graph.store.close()
    if run.interactions_s is None and run.interactions_started is not None:
        run.interactions_s = time.monotonic() - run.interactions_started
    interactions_s = run.interactions_s or 0.0
    return DemoSummary(
        agents_registered=run.registered,
        interactions_requested=run.requested,
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
        peak_rss_bytes=peaks,
        loop_block_max_s={name: block for name, (block, _) in blocks.items() if not math.isnan(block)},
        gc_pause_max_s={name: pause for name, (_, pause) in blocks.items() if not math.isnan(pause)},
        partial=bool(interrupted),
        interrupted_by=interrupted[0] if interrupted else None,
        stage=run.stage if interrupted else None,
        dead_letter_reasons=result.dead_letter_reasons,
    )


async def _society(
    stack: LocalStack,
    settings: Settings,
    metrics: MetricsConsumer,
    graph: GraphConsumer,
    run: _Run,
    agents: int,
    interactions: int,
    seed: int,
    timeout_s: float,
    show_progress: bool,
) -> None:
    """The demo's stages, each recorded in ``run`` as it goes."""
    async with EventPublisher(settings) as publisher:
        run.stage = "publishing agents"
        with progress_bar(agents, "publish agents", show_progress, "agents") as bar:
            await publisher.publish(
                settings.agents_topic,
                persona_batches(agents, seed, settings.partitions, settings.agent_batch_size),
                bar,
            )
        run.stage = "registering agents"
        with progress_bar(agents, "register agents", show_progress, "agents") as bar:
            ids = {agent_id(i) for i in range(agents)}
            registered = Tally(bar)
            try:
                wait = wait_for_registration(settings, ids, timeout_s, registered.update)
                what = f"the stream workers to register {len(ids):,} agents"
                await stack.watch(watched(wait, what, timeout_s, workers_diagnosis(settings), say))
            finally:
                run.registered = registered.count

        run.stage = "publishing interactions"
        run.interactions_started = time.monotonic()
        with progress_bar(interactions, "publish interactions", show_progress) as bar:
            published = Tally(bar)
            try:
                await publisher.publish_requests(random_requests(interactions, agents, seed), published)
            finally:
                run.requested = published.count
    run.stage = "answering interactions"
    with progress_bar(interactions, "answer interactions", show_progress) as bar:
        await stack.watch(_until_settled(metrics, interactions, timeout_s, bar))
    run.interactions_s = time.monotonic() - run.interactions_started
    run.stage = "waiting for the graph"
    # The graph consumer reads the same responses; let it catch up before counting.
    await stack.watch(_until_graph_caught_up(graph, metrics, timeout_s=60))
    run.stage = "done"


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
