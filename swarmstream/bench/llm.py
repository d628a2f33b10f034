"""``swarmstream bench llm``: the worker end to end against the bare LLM client, on the same core.

Both sides make the same calls through the same engine (`swarmstream.llm.engine`) against the
simulator. The bare side is a tight asyncio loop with no Kafka; the end-to-end side is a real
stream worker, warmed up, consuming the requests and producing responses. Each runs alone, pinned
to one core, while the simulator and broker share the others. Rates are taken between 10 % and
90 % of the answers, so start-up and the tail do not count.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace

import msgpack
from aiokafka import AIOKafkaConsumer, TopicPartition

from producers.personas import persona_batches, personas
from producers.requests import random_requests
from swarmstream.bench.result import BenchResult
from swarmstream.publisher import EventPublisher
from swarmstream.runtime.loop import tune_gc, use_uvloop
from swarmstream.runtime.process import ChildProcess, memory_bytes
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.stats import percentile
from swarmstream.transport import ensure_topics, make_consumer


@dataclass(frozen=True)
class Run:
    name: str
    calls: int
    per_s: float
    cpu_us_per_call: float
    p50_ms: float
    p99_ms: float
    # Shares of one core busy in the window: the measured side's (pinned), and the simulator's.
    busy: float = 0.0
    simulator_busy: float = 0.0
    # The worker's resident memory once every answer is in (0: not measured).
    rss_bytes: int = 0

    def line(self) -> str:
        return (
            f"  {self.name:<11} {self.per_s:>8,.0f}/s  {self.cpu_us_per_call:>6,.0f} µs CPU/call  "
            f"p50 {self.p50_ms:6.1f} ms  p99 {self.p99_ms:6.1f} ms  ({self.calls:,} calls)  "
            f"core {self.busy:.0%} busy, simulator {self.simulator_busy:.0%}"
            + (f", RSS {self.rss_bytes / 2**20:,.0f} MiB" if self.rss_bytes else "")
        )


# The bare client's core must be at least this busy for the ratio to compare CPU costs, not waits.
BUSY_ENOUGH = 0.9

# Calls in flight on both sides unless the user chose (flag or env): the bare client makes several
# thousand calls a second, and against the simulator's 100 ms a smaller number would cap it below that.
DEFAULT_MAX_CONCURRENT = 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its threads so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pin(pid: int, cores: set[int]) -> None:
    """Pin every thread of a running process to ``cores``."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), cores)


class Window:
    """Answer times and CPU readings, reduced to a rate between 10 % and 90 % of ``total``.

    ``simulator``: the pid of the simulator, whose CPU is read at the same marks.
    """

    def __init__(self, total: int, pid: int | None, simulator: int | None = None):
        self.total = total
        self.pid = pid
        self.simulator = simulator
        self.count = 0
        self.marks: dict[str, tuple[float, float, float, int]] = {}

    def answered(self, n: int = 1) -> None:
        self.count += n
        for name, fraction in (("start", 0.1), ("end", 0.9)):
            if name not in self.marks and self.count >= self.total * fraction:
                cpu = cpu_seconds(self.pid) if self.pid else time.process_time()
                simulator = cpu_seconds(self.simulator) if self.simulator else 0.0
                self.marks[name] = (time.perf_counter(), cpu, simulator, self.count)

    def rate(self) -> tuple[float, float, float, float]:
        """Calls per second, CPU µs per call, and the measured side's and simulator's busy shares of a core."""
        (t0, c0, s0, n0), (t1, c1, s1, n1) = self.marks["start"], self.marks["end"]
        return (n1 - n0) / (t1 - t0), (c1 - c0) / (n1 - n0) * 1e6, (c1 - c0) / (t1 - t0), (s1 - s0) / (t1 - t0)


async def bare_client(settings: Settings, calls: int, agents: int, seed: int, simulator: int | None = None) -> Run:
    """The engine in a tight loop, ``max_concurrent`` calls in flight, no Kafka."""
    from streams.profiles import apply
    from streams.prompts import build_messages
    from swarmstream.llm.engine import build_engine

    profiles = [apply(None, event) for event in personas(agents, seed)]
    requests = list(random_requests(calls, agents, seed))
    engine = build_engine(settings)
    window = Window(calls, pid=None, simulator=simulator)
    latencies: list[float] = []
    queue = iter(requests)

    async def caller() -> None:
        for request in queue:
            index = int(request.agent_id.rsplit("-", 1)[1])
            completion = await engine.complete(build_messages(profiles[index], request))
            latencies.append(completion.latency_s * 1000)
            window.answered()

    try:
        await asyncio.gather(*(caller() for _ in range(settings.max_concurrent)))
    finally:
        await engine.close()
    return _run("bare client", window, latencies)


def _run(name: str, window: Window, latencies: list[float]) -> Run:
    per_s, cpu_us, busy, simulator_busy = window.rate()
    latencies.sort()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return Run(name, window.count, per_s, cpu_us, p50, p99, busy, simulator_busy)


async def end_to_end(settings: Settings, stack: LocalStack, requests: int, agents: int, seed: int, core: int) -> Run:
    """Start one pinned worker on the agents, warm it up, then publish the requests and time its answers.

    The requests are published once the worker is answering: published before it, thousands of
    them would reach the worker ahead of their speakers' profiles and wait, and the run would time
    the start-up race rather than the steady state.
    """
    await ensure_topics(settings)
    warmup = list(random_requests(settings.partitions * 4, agents, seed + 1))
    async with EventPublisher(settings) as publisher:
        # Bulk creations, as `bench agents` and the demo publish them: one record per agent would time
        # faust's per-record path through a million agents before the first warm-up answer.
        await publisher.publish(
            settings.agents_topic,
            persona_batches(agents, seed, settings.partitions, settings.agent_batch_size),
        )
        await publisher.publish_requests(warmup)
        consumer = make_consumer(settings, group_id=None)
        await consumer.start()
        try:
            partitions = [TopicPartition(settings.responses_topic, p) for p in range(settings.partitions)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning()
            worker = stack.start_worker(cores={core})
            warm_ids = {r.request_id for r in warmup}
            # The worker registers every agent before the warm-up's speakers are all known.
            await _collect(consumer, worker, warm_ids, Window(len(warm_ids), None), [], 180 + agents / 5_000)
            measured = list(random_requests(requests, agents, seed))
            window = Window(requests, pid=worker.pid, simulator=stack.simulator.pid if stack.simulator else None)
            latencies: list[float] = []
            await publisher.publish_requests(measured)
            await _collect(consumer, worker, {r.request_id for r in measured}, window, latencies, 120 + requests / 200)
            return replace(_run("end to end", window, latencies), rss_bytes=memory_bytes(worker.pid))
        finally:
            await consumer.stop()


async def _collect(
    consumer: AIOKafkaConsumer,
    worker: ChildProcess,
    wanted: set[str],
    window: Window,
    latencies: list[float],
    timeout_s: float,
) -> None:
    """Read responses until every id in ``wanted`` is answered once; raise if that takes too long."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout_s
    while len(seen) < len(wanted):
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(seen):,} of {len(wanted):,} answered; worker log: {worker.log_path}")
        if not worker.alive():
            raise RuntimeError(f"the worker exited; its log:\n{worker.log_tail()}")
        for batch in (await consumer.getmany(timeout_ms=100)).values():
            for record in batch:
                response = msgpack.unpackb(record.value)
                request_id = response["request_id"]
                if request_id in wanted and request_id not in seen:
                    seen.add(request_id)
                    latencies.append(response["llm_latency_ms"])
                    window.answered()


def run_bare_in_child(stack: LocalStack, calls: int, agents: int, seed: int, core: int) -> Run:
    """The bare loop in its own process, pinned like the worker, so both measure the same way."""
    result = stack.work_dir / "bench-bare.json"
    simulator = stack.simulator.pid if stack.simulator else None
    code = (
        f"from swarmstream.bench.llm import _bare_main; "
        f"_bare_main({calls}, {agents}, {seed}, {str(result)!r}, {simulator!r})"
    )
    child = ChildProcess(
        "bare client",
        [sys.executable, "-c", code],
        env=stack.settings.to_env(),
        log_path=stack.work_dir / "bench-bare.log",
        cores={core},
    )
    if child.process.wait(timeout=600) != 0:
        raise RuntimeError(f"the bare-client run failed:\n{child.log_tail()}")
    child.stop()
    return Run(**json.loads(result.read_text()))


def _bare_main(calls: int, agents: int, seed: int, result_path: str, simulator: int | None = None) -> None:
    # The same event loop and garbage collection as the worker's (which runs through the CLI).
    use_uvloop()
    tune_gc()
    run = asyncio.run(bare_client(Settings(), calls, agents, seed, simulator))
    with open(result_path, "w") as out:
        json.dump(asdict(run), out)


async def bench_llm(
    settings: Settings, requests: int, agents: int, seed: int, simulator_args: list[str]
) -> BenchResult:
    cores = sorted(os.sched_getaffinity(0))
    worker_core = cores[0]
    with LocalStack(settings, simulator_args) as stack:
        # The simulator, the broker and this process share the other cores.
        others = set(cores[1:]) or {worker_core}
        for child in (stack.broker.child if stack.broker else None, stack.simulator):
            if child is not None:
                pin(child.pid, others)
        pin(os.getpid(), others)
        bare = run_bare_in_child(stack, requests, agents, seed, worker_core)
        e2e = await end_to_end(stack.settings, stack, requests, agents, seed, worker_core)
    ratio = e2e.per_s / bare.per_s
    figures = {
        "requests": requests, "agents": agents, "max_concurrent": settings.max_concurrent,
        "requests_per_record": settings.request_batch_size, "worker_core": worker_core, "cores": len(cores),
        "bare": asdict(bare), "end_to_end": asdict(e2e), "ratio": ratio, "bare_busy_enough": bare.busy >= BUSY_ENOUGH,
    }  # fmt: skip
    return BenchResult(
        "llm",
        figures,
        [
            f"swarmstream bench llm: {requests:,} interactions, {agents:,} agents, "
            f"max_concurrent {settings.max_concurrent}, {settings.request_batch_size} requests per record, "
            f"worker pinned to core {worker_core} of {len(cores)}",
            bare.line(),
            e2e.line(),
            f"  ratio       {ratio:.2f} (end to end / bare client)",
            *(
                [
                    f"  WARNING     the bare client's core was {bare.busy:.0%} busy, not at least {BUSY_ENOUGH:.0%}: "
                    "something else (the simulator, the broker) was the limit, and the ratio does not measure "
                    "the worker's cost"
                ]
                if bare.busy < BUSY_ENOUGH
                else []
            ),
        ],
    )
