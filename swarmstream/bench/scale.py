"""``swarmstream bench scale``: the same request load through 1, 2, 4, ... workers of one consumer group.

Each run starts its own embedded broker, N workers (each pinned to a core of its own when the machine
has enough: two cores are left to the broker and the driver, and each worker's own simulator gets one
too), publishes the society, waits until every worker holds partitions, then publishes the requests
and times the answers between 10 % and 90 % of them. Each worker calls a simulator process of its own,
so the provider side grows with the workers, as a real provider's does.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass

from aiokafka import TopicPartition

from producers.personas import persona_batches
from producers.requests import random_requests
from swarmstream.agent_ids import agent_id
from swarmstream.bench.llm import cpu_seconds
from swarmstream.bench.result import BenchResult
from swarmstream.publisher import EventPublisher
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.process import ChildProcess, free_port, python_module, wait_for_port
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.topic_values import RESPONSES
from swarmstream.transport import ensure_topics, make_consumer


@dataclass(frozen=True)
class ScaleRow:
    workers: int
    pinned: bool
    per_s: float
    cpu_ms_per_call: float


@dataclass(frozen=True)
class ScaleReport:
    cores: int
    requests: int
    partitions: int
    rows: list[ScaleRow]

    def result(self) -> BenchResult:
        base = self.rows[0].per_s / self.rows[0].workers if self.rows else 0.0
        rows = [{**asdict(row), "efficiency": row.per_s / (row.workers * base) if base else 0.0} for row in self.rows]
        figures = {"cores": self.cores, "requests": self.requests, "partitions": self.partitions, "rows": rows}
        lines = [
            f"swarmstream bench scale: {self.requests:,} requests through each group, {self.partitions} partitions, "
            f"{self.cores} cores on this machine",
            "  workers  pinned  interactions/s  CPU ms/interaction  efficiency",
        ]
        for row in self.rows:
            efficiency = row.per_s / (row.workers * base) if base else 0.0
            lines.append(
                f"  {row.workers:7}  {'yes' if row.pinned else 'no':>6}  {row.per_s:14,.0f}  "
                f"{row.cpu_ms_per_call:18.3f}  {efficiency:10.2f}"
            )
        return BenchResult("scale", figures, lines)


async def bench_scale(settings: Settings, counts: list[int], requests: int, agents: int, seed: int) -> ScaleReport:
    """One row per worker count in ``counts``; efficiency is throughput(N) / (N x throughput(first count) / its N)."""
    if not counts or min(counts) < 1:
        raise ValueError("--workers takes worker counts of at least 1, such as 1,2,4,8")
    cores = sorted(os.sched_getaffinity(0))
    rows = []
    for count in counts:
        run = settings.model_copy(
            update={
                "topic_prefix": f"{settings.topic_prefix}-scale{count}",
                "app_id": f"{settings.app_id}-scale{count}",
            }
        )
        rows.append(await _one_group(run, count, requests, agents, seed, cores))
    return ScaleReport(len(cores), requests, settings.partitions, rows)


async def _one_group(
    settings: Settings, count: int, requests: int, agents: int, seed: int, cores: list[int]
) -> ScaleRow:
    # Two cores for the broker and the driver, then one per worker and one per worker's simulator.
    pinned = len(cores) >= 2 + 2 * count
    simulators: list[ChildProcess] = []
    with LocalStack(settings.model_copy(update={"llm_base_url": "http://unused/v1"})) as stack:
        try:
            urls = []
            for index in range(count):
                port = free_port()
                simulator = ChildProcess(
                    f"llm simulator {index}",
                    python_module("swarmstream", "llm-sim", "--port", str(port), "--latency-ms", "100"),
                    log_path=stack.work_dir / f"llm-sim-{index}.log",
                    cores={cores[2 + count + index]} if pinned else None,
                )
                simulators.append(simulator)
                wait_for_port("127.0.0.1", port, 30, simulator)
                urls.append(f"http://127.0.0.1:{port}/v1")
            settings = stack.settings
            await ensure_topics(settings)
            ports = [free_port() for _ in range(count)]
            workers = [
                stack.start_worker(cores={cores[2 + index]} if pinned else None, metrics_port=ports[index],
                                   llm_base_url=urls[index])
                for index in range(count)
            ]  # fmt: skip
            async with EventPublisher(settings) as publisher:
                await publisher.publish(settings.agents_topic, persona_batches(agents, seed, settings.partitions, 500))
                await stack.watch(wait_for_registration(settings, {agent_id(i) for i in range(agents)}, 300))
                await stack.until_assigned(ports, 300)
                return await stack.watch(_timed(settings, publisher, workers, count, pinned, requests, agents, seed))
        finally:
            for simulator in simulators:
                simulator.stop()


async def _timed(
    settings: Settings,
    publisher: EventPublisher,
    workers: list[ChildProcess],
    count: int,
    pinned: bool,
    requests: int,
    agents: int,
    seed: int,
) -> ScaleRow:
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(settings.responses_topic, p) for p in range(settings.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_end()
        await publisher.publish_requests(random_requests(requests, agents, seed))
        seen: set[str] = set()
        marks: dict[str, tuple[float, float, int]] = {}
        deadline = time.monotonic() + 120 + requests / 100
        while len(seen) < requests:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(seen):,} of {requests:,} answered in time")
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                # Counted by request: a redelivered answer is not a second interaction.
                seen.update(RESPONSES.decode(record.value).request_id for record in batch)
            for name, fraction in (("start", 0.1), ("end", 0.9)):
                if name not in marks and len(seen) >= requests * fraction:
                    cpu = sum(cpu_seconds(worker.pid) for worker in workers)
                    marks[name] = (time.perf_counter(), cpu, len(seen))
    finally:
        await consumer.stop()
    (t0, c0, n0), (t1, c1, n1) = marks["start"], marks["end"]
    return ScaleRow(count, pinned, (n1 - n0) / (t1 - t0), (c1 - c0) / (n1 - n0) * 1000)
