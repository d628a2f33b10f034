"""Chaos scenarios: a running pipeline, faults at set points of its progress, then the accounting.

Each scenario starts its own embedded broker, simulator and two stream workers (real processes),
publishes a society and its requests, injects its faults when given fractions of the requests have
ended, waits until every request has ended (or gives up), and reads the topics to account for each one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sqlite3
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import msgpack

from consumers.dlq import read_dead_letters, replay
from producers.personas import persona_batches
from producers.requests import random_requests
from swarmstream import codec
from swarmstream.agent_ids import agent_id
from swarmstream.chaos.accounting import Accounting, account, read_ledger, recovery_s
from swarmstream.events import InteractionRequested
from swarmstream.outcomes import ReplyReader
from swarmstream.publisher import EventPublisher
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.broker import EmbeddedBroker
from swarmstream.runtime.process import ChildProcess, free_port, python_module, wait_for_port
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics, make_producer

SCENARIOS = (
    "baseline", "worker-kill", "consumer-kill", "broker-stall", "llm-faults", "bad-input", "broker-restart",
    "scale-out",
)  # fmt: skip


@dataclass
class ChaosResult:
    scenario: str
    accounting: Accounting | None  # None: the topics are gone (broker-restart)
    faults: list[tuple[str, float]]  # (what, seconds since the start)
    recoveries_s: list[float | None]
    wall_s: float
    checks: dict[str, object] = field(default_factory=dict)
    # Outcomes per second from the first to the last one: throughput under the faults.
    outcomes_per_s: float | None = None

    @property
    def ok(self) -> bool:
        accounted = self.accounting is None or self.accounting.ok
        return accounted and all(value is not False for value in self.checks.values())


@dataclass
class Run:
    """What a scenario's faults act on."""

    stack: LocalStack
    settings: Settings
    rng: random.Random
    started: float
    faults: list[tuple[str, float]] = field(default_factory=list)
    # (when the fault began, when it ended): monotonic, like the arrival times of outcomes.
    fault_spans: list[tuple[float, float]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    children: dict[str, ChildProcess] = field(default_factory=dict)
    restarts: dict[str, Callable[[], ChildProcess]] = field(default_factory=dict)
    graph_db: Path | None = None
    metrics_port: int | None = None

    def note(self, what: str, began: float | None = None) -> None:
        """A fault has ended (it began at ``began``, default now)."""
        now = time.monotonic()
        self.faults.append((what, round(now - self.started, 1)))
        self.fault_spans.append((began if began is not None else now, now))


Fault = Callable[[Run], Awaitable[None]]


async def _kill_a_worker(run: Run) -> None:
    alive = [worker for worker in run.stack.workers if worker.alive()]
    victim = run.rng.choice(alive)
    victim.kill()
    run.note(f"kill -9 {victim.name}")
    run.stack.start_worker()  # the replacement joins the group: a rebalance


async def _stall_the_broker(run: Run) -> None:
    assert run.stack.broker is not None and run.stack.broker.child is not None
    pid = run.stack.broker.child.pid
    os.kill(pid, signal.SIGSTOP)
    began = time.monotonic()
    await asyncio.sleep(10)
    os.kill(pid, signal.SIGCONT)
    run.note("broker SIGSTOP for 10 s, then SIGCONT", began)


async def _restart_the_simulator(run: Run) -> None:
    simulator = run.stack.simulator
    assert simulator is not None
    simulator.kill()
    began = time.monotonic()
    await asyncio.sleep(2)
    run.stack.simulator = run.restarts["llm-sim"]()
    run.note("kill -9 the LLM simulator, restarted 2 s later", began)


async def _kill_a_worker_for_good(run: Run) -> None:
    victim = run.rng.choice([worker for worker in run.stack.workers if worker.alive()])
    victim.kill()
    run.note(f"kill -9 {victim.name} (not replaced: the others take its partitions)")


async def _kill_a_graph_replica(run: Run) -> None:
    run.children["graph"].kill()
    run.note("kill -9 graph consumer replica 1 (not replaced: replica 2 takes its partitions)")


def _kill_and_restart(name: str) -> Fault:
    async def fault(run: Run) -> None:
        run.children[name].kill()
        run.note(f"kill -9 {name} consumer")
        run.children[name] = run.restarts[name]()

    return fault


# Fractions of requests ended at which each scenario's faults strike.
PLANS: dict[str, list[tuple[float, Fault]]] = {
    "worker-kill": [(0.15, _kill_a_worker), (0.4, _kill_a_worker), (0.65, _kill_a_worker)],
    "consumer-kill": [(0.3, _kill_and_restart("graph")), (0.5, _kill_and_restart("metrics"))],
    "broker-stall": [(0.3, _stall_the_broker)],
    "llm-faults": [(0.4, _restart_the_simulator)],
    "bad-input": [],
    "scale-out": [(0.3, _kill_a_worker_for_good), (0.5, _kill_a_graph_replica)],
    "baseline": [],  # no fault: what the others are compared with
}

# The simulator's latency: wide, so that calls finish far out of order and many are in flight.
LATENCY = ["--latency", "uniform", "--latency-min-ms", "50", "--latency-max-ms", "1500"]
FAULTS = [
    "--fault-429", "0.05", "--fault-5xx", "0.10", "--fault-timeout", "0.02", "--hang-s", "5",
    "--fault-malformed", "0.02", "--fault-reset", "0.02",
]  # fmt: skip


def _chaos_settings(scenario: str, settings: Settings | None) -> Settings:
    return (settings or Settings()).model_copy(
        update={
            "bootstrap_servers": None,
            "llm_base_url": None,
            "topic_prefix": f"chaos-{scenario}",
            "app_id": f"chaos-{scenario}",
            "session_timeout_s": 10.0,
            "commit_interval_s": 0.5,
            "unknown_agent_grace_s": 2.0,
            # Hangs (5 s) outlast the call timeout; retries stay short so the run keeps moving.
            "llm_timeout_s": 2.0,
            "llm_backoff_cap_s": 2.0,
            "max_prompt_chars": 4_000,
            # Injected 429s and hangs keep cutting the adaptive limit; a floor keeps the run moving.
            "llm_min_concurrent": 32,
        }
    )


async def run_scenario(
    scenario: str,
    requests: int = 3_000,
    agents: int = 200,
    seed: int = 7,
    settings: Settings | None = None,
    timeout_s: float = 600,
) -> ChaosResult:
    """Run one scenario on its own embedded stack and account for every request."""
    if scenario == "broker-restart":
        return await run_broker_restart(requests, agents, seed, settings)
    if scenario not in PLANS:
        raise ValueError(f"unknown scenario {scenario!r}: one of {', '.join(SCENARIOS)}")
    base = _chaos_settings(scenario, settings)
    if scenario == "scale-out":
        if base.graph_dsn is None:
            raise ValueError("scale-out runs two graph-consumer replicas on PostgreSQL: set SWARMSTREAM_GRAPH_DSN")
        # A small cap, so that replicas deciding about the same agents at once would pass it.
        base = base.model_copy(update={"max_friends_per_agent": SCALE_OUT_CAP})
    simulator_args = LATENCY + (FAULTS if scenario == "llm-faults" else [])
    started = time.monotonic()
    with LocalStack(base, simulator_args) as stack:
        settings = stack.settings
        run = Run(stack, settings, random.Random(seed), started)
        _prepare_restarts(run, simulator_args)
        await ensure_topics(settings)
        if scenario == "consumer-kill":
            run.children["graph"] = run.restarts["graph"]()
            run.children["metrics"] = run.restarts["metrics"]()
        if scenario == "scale-out":
            run.children["graph"] = run.restarts["graph"]()
            run.children["graph-2"] = run.restarts["graph-2"]()
        try:
            async with EventPublisher(settings) as publisher:
                await _start_society(stack, publisher, agents, seed, timeout_s, 3 if scenario == "scale-out" else 2)
                batch = list(random_requests(requests, agents, seed))
                if scenario == "scale-out":
                    batch = _with_friend_requests(batch, run.rng)
                async with ReplyReader(settings) as reader:
                    if scenario == "bad-input":
                        batch = await _publish_bad_input(settings, publisher, batch, run.rng)
                    else:
                        await publisher.publish_requests(batch)
                    reader.expect(request.request_id for request in batch)
                    await _until_settled(run, reader, len(batch), PLANS[scenario], timeout_s)
            checks: dict[str, object] = {}
            if scenario == "llm-faults":
                checks["replayed_retryable_dead_letters"] = await _replay_retryable(run, timeout_s)
            ledger, reasons = await read_ledger(settings)
            if scenario == "consumer-kill":
                checks = await _final_checks(run, len(ledger.responses))
            if scenario == "scale-out":
                checks = await _shared_graph_checks(settings, len(ledger.responses))
        finally:
            for child in run.children.values():
                child.stop()
    accounting = account(ledger, reasons)
    return ChaosResult(
        scenario=scenario,
        accounting=accounting,
        faults=run.faults,
        recoveries_s=[recovery_s(run.arrivals, began, ended) for began, ended in run.fault_spans],
        outcomes_per_s=_rate(run.arrivals),
        wall_s=round(time.monotonic() - started, 1),
        checks=checks,
    )


async def _start_society(
    stack: LocalStack, publisher: EventPublisher, agents: int, seed: int, timeout_s: float, workers: int = 2
) -> None:
    """``workers`` stream workers, and ``agents`` seeded agents published and registered."""
    settings = stack.settings
    for _ in range(workers):
        stack.start_worker()
    await publisher.publish(
        settings.agents_topic, persona_batches(agents, seed, settings.partitions, settings.agent_batch_size)
    )
    await stack.watch(wait_for_registration(settings, {agent_id(i) for i in range(agents)}, timeout_s))


def _rate(arrivals: list[float]) -> float | None:
    if len(arrivals) < 2 or arrivals[-1] <= arrivals[0]:
        return None
    return round((len(arrivals) - 1) / (arrivals[-1] - arrivals[0]), 1)


def _prepare_restarts(run: Run, simulator_args: list[str]) -> None:
    settings, run_dir = run.settings, run.stack.work_dir
    assert settings.llm_base_url is not None
    sim_port = urlsplit(settings.llm_base_url).port
    assert sim_port is not None
    graph_db = run.graph_db = run_dir / "graph.sqlite3"
    metrics_port = run.metrics_port = free_port()
    starts = {"graph": 0, "graph-2": 0, "metrics": 0, "llm-sim": 0}

    def start(name: str, argv: list[str], port: int | None) -> ChildProcess:
        starts[name] += 1
        child = ChildProcess(name, argv, env=settings.to_env(), log_path=run_dir / f"{name}-{starts[name]}.log")
        if port is not None:
            wait_for_port("127.0.0.1", port, 30, child)
        return child

    run.restarts = {
        "graph": lambda: start("graph", python_module("swarmstream", "consume", "graph", "--db", str(graph_db)), None),
        # A second replica of the same group: PostgreSQL only (scale-out), where --db is not read.
        "graph-2": lambda: start("graph-2", python_module("swarmstream", "consume", "graph"), None),
        "metrics": lambda: start(
            "metrics", python_module("swarmstream", "consume", "metrics", "--port", str(metrics_port)), metrics_port
        ),
        "llm-sim": lambda: start(
            "llm-sim", python_module("swarmstream", "llm-sim", "--port", str(sim_port), *simulator_args), sim_port
        ),
    }


# scale-out: the friend cap, and the share of requests that are friend requests.
SCALE_OUT_CAP = 3
FRIEND_REQUEST_SHARE = 0.5


def _with_friend_requests(batch: list[InteractionRequested], rng: random.Random) -> list[InteractionRequested]:
    """Half the chats turned into friend requests between the same agents: many more than the caps allow."""
    return [
        request.model_copy(update={"kind": "friend_request"}) if rng.random() < FRIEND_REQUEST_SHARE else request
        for request in batch
    ]


async def _shared_graph_checks(settings: Settings, unique: int) -> dict[str, object]:
    """scale-out: the shared graph has every response once, no agent past the cap, no one-sided friendship."""
    from consumers.graph import open_store

    store = open_store(settings)
    try:
        deadline = time.monotonic() + 120
        while (processed := store.processed_count()) < unique and time.monotonic() < deadline:
            await asyncio.sleep(1)
        most_friends, unmatched = store.most_friends(), store.one_sided_friendships()
        friendships = store.friendship_count()
    finally:
        store.close()
    return {
        "graph_responses_recorded_once": processed == unique,
        "graph_processed": processed,
        "unique_responses": unique,
        "friendships": friendships,
        "most_friends_of_an_agent": most_friends,
        "cap_never_exceeded": most_friends <= settings.max_friends_per_agent,
        "every_friendship_mutual": unmatched == 0,
    }


async def _publish_bad_input(
    settings: Settings, publisher: EventPublisher, batch: list[InteractionRequested], rng: random.Random
) -> list[InteractionRequested]:
    """The requests with bad input among them, 1 % each of unknown speakers, oversized prompts, undecodable
    records and duplicates; returns the requests that decode."""
    good = list(batch)
    unknown = [InteractionRequested(agent_id=f"nobody-{i}", context="hello?") for i in range(len(batch) // 100 + 1)]
    oversized = [
        InteractionRequested(agent_id=request.agent_id, context="long " * 1_000)
        for request in batch[: len(batch) // 100 + 1]
    ]
    await publisher.publish_requests([*good[: len(good) // 2], *unknown, *oversized])
    producer = make_producer(settings)
    await producer.start()
    try:
        fields = msgpack.unpackb(codec.encode(good[0]))
        garbage = [b"\xc1 not msgpack", msgpack.packb({**fields, "schema_version": 99}), msgpack.packb({"type": 1})]
        for index in range(len(batch) // 100 + 1):
            await producer.send_and_wait(settings.requests_topic, rng.choice(garbage), key=agent_id(index).encode())
    finally:
        await producer.stop()
    # The same events again, at other offsets: duplicates, dead-lettered.
    duplicates = good[: len(good) // 100 + 1]
    await publisher.publish_requests([*good[len(good) // 2 :], *duplicates])
    return [*good, *unknown, *oversized]


async def _until_settled(
    run: Run, reader: ReplyReader, total: int, plan: list[tuple[float, Fault]], timeout_s: float
) -> None:
    """Until every expected request ended; each fault strikes when its fraction of them has."""
    pending = sorted(plan, key=lambda step: step[0])
    ended = 0

    async def follow() -> None:
        nonlocal ended
        async for _ in reader.outcomes(timeout_s=120):
            ended += 1
            run.arrivals.append(time.monotonic())
            while pending and ended >= pending[0][0] * total:
                _, fault = pending.pop(0)
                await fault(run)

    await asyncio.wait_for(run.stack.watch(follow()), timeout_s)


async def _replay_retryable(run: Run, timeout_s: float) -> int:
    """What ``swarmstream dlq replay`` does after an outage: the retryable dead letters, answered now."""
    letters = (await read_dead_letters(run.settings)).retryable()
    if letters:
        async with ReplyReader(run.settings) as reader:
            reader.expect(letter.request_id for letter in letters)
            await replay(run.settings, letters)
            await _until_settled(run, reader, len(letters), [], timeout_s)
    return len(letters)


async def _final_checks(run: Run, unique: int) -> dict[str, object]:
    """consumer-kill: the graph counts each of the ``unique`` responses once; the restarted metrics
    consumer never more. Every chaos request names a target, so each response is one edge weight."""
    deadline = time.monotonic() + 60
    while True:
        db = sqlite3.connect(str(run.graph_db))
        try:
            processed = db.execute("SELECT count(*) FROM processed_events").fetchone()[0]
            weights = db.execute("SELECT coalesce(sum(weight), 0) FROM edges").fetchone()[0]
        finally:
            db.close()
        if processed >= unique or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    with urllib.request.urlopen(f"http://127.0.0.1:{run.metrics_port}/summary", timeout=10) as answer:
        summary = json.load(answer)
    return {
        "graph_responses_recorded_once": processed == unique,
        "graph_edge_weight_equals_responses": weights == unique,
        "metrics_after_restart_answered": summary["answered"],
        "metrics_never_above_unique": summary["answered"] <= unique,
    }


async def run_broker_restart(
    requests: int = 3_000, agents: int = 200, seed: int = 7, settings: Settings | None = None, detect_s: float = 90
) -> ChaosResult:
    """kill -9 the broker mid-run and start an empty one at the same address: workers must stop, saying why.

    The topics and the committed offsets are gone, so there is nothing to account for; what is checked
    is that every worker exits with an error and the reason within ``detect_s``, instead of hanging or
    silently starting over on the empty cluster.
    """
    started = time.monotonic()
    with LocalStack(_chaos_settings("broker-restart", settings), LATENCY) as stack:
        settings = stack.settings
        assert stack.broker is not None and stack.broker.child is not None
        run = Run(stack, settings, random.Random(seed), started)
        await ensure_topics(settings)
        async with EventPublisher(settings) as publisher:
            await _start_society(stack, publisher, agents, seed, 300)
            workers = list(stack.workers)
            batch = list(random_requests(requests, agents, seed))
            async with ReplyReader(settings) as reader:
                await publisher.publish_requests(batch)
                reader.expect(request.request_id for request in batch)
                with contextlib.suppress(_Enough):  # 30 % answered: the fault strikes mid-run
                    await _until_settled(run, reader, len(batch), [(0.3, _end_here)], 300)
        port, log_path = stack.broker.port, stack.work_dir / "broker-fresh.log"
        stack.broker.child.kill()
        stack.broker = EmbeddedBroker(port=port, log_path=log_path)
        stack.broker.start()
        run.note("kill -9 the broker; a fresh one at the same address")
        deadline = time.monotonic() + detect_s
        while any(worker.alive() for worker in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        detected_s = round(time.monotonic() - started - run.faults[-1][1], 1)
        logs = [worker.log_tail(5) for worker in workers]
        codes = [worker.process.returncode for worker in workers]
    return ChaosResult(
        scenario="broker-restart",
        accounting=None,
        faults=run.faults,
        recoveries_s=[],
        wall_s=round(time.monotonic() - started, 1),
        checks={
            "workers_exit_codes": codes,
            "every_worker_exited_with_an_error": all(code not in (None, 0) for code in codes),
            "every_worker_ended_saying_why": all("swarmstream worker stopped:" in log for log in logs),
            "workers_saying_the_broker_lost_its_data": sum("the broker lost its data" in log for log in logs),
            "stopped_within_s": detected_s,
        },
    )


class _Enough(Exception):
    """Stops following the run: the fault comes next."""


async def _end_here(run: Run) -> None:
    raise _Enough
