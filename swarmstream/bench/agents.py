"""``swarmstream bench agents``: publish a society, time it into a worker's table, restart, time recovery.

One worker, unpinned, on the embedded broker (or the configured one). The clock starts when the
worker is answering (a warm-up agent is in its table) and publishing begins; it stops when the
worker's ``swarmstream_agent_profiles`` gauge, scraped from its ``/metrics``, counts every agent.
Then the worker is stopped (SIGTERM) and a new one started: the table is rebuilt from its
changelog, and one interaction request published at the restart times the first answer. The
restart is split in three: the group stable with the new worker in it (as the broker describes
the group), every profile back (the worker's gauge), first answer.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
from aiokafka import TopicPartition

from producers.personas import persona_batches, personas
from producers.requests import random_requests
from streams import profiles
from swarmstream import profile_format
from swarmstream.bench.result import BenchResult
from swarmstream.metrics_http import scrape
from swarmstream.progress import progress_bar
from swarmstream.publisher import EventPublisher
from swarmstream.runtime.process import ChildProcess, free_port, memory_bytes
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.topic_values import RESPONSES
from swarmstream.transport import admin_client, describe_group, ensure_topics, make_consumer


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


async def wait_for_profiles(
    session: aiohttp.ClientSession, url: str, worker: ChildProcess, target: int, timeout_s: float, bar=None
) -> float:
    """Poll the worker until its table holds ``target`` profiles; returns the time it did."""
    deadline = time.monotonic() + timeout_s
    shown = 0
    while True:
        if not worker.alive():
            raise RuntimeError(f"the worker exited; its log:\n{worker.log_tail()}")
        try:
            count = int((await scrape(session, url)).get("swarmstream_agent_profiles", 0))
        except aiohttp.ClientError:
            count = 0  # not serving yet
        if bar is not None and count > shown:
            bar.update(min(count, target) - shown)
            shown = min(count, target)
        if count >= target:
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count:,} of {target:,} profiles after {timeout_s:.0f} s; log: {worker.log_path}")
        await asyncio.sleep(0.2)


async def wait_for_group(settings: Settings, group: str, worker: ChildProcess, timeout_s: float) -> float:
    """Poll the broker until ``group`` is stable with a member (the worker has its partitions); returns when."""
    deadline = time.monotonic() + timeout_s
    # One client for the whole wait: a new one per poll would put its connection into the time measured.
    async with admin_client(settings) as admin:
        while True:
            if not worker.alive():
                raise RuntimeError(f"the worker exited; its log:\n{worker.log_tail()}")
            group_now = await describe_group(settings, group, admin)
            if group_now.state == "Stable" and group_now.members:
                return time.perf_counter()
            if time.monotonic() > deadline:
                raise TimeoutError(f"group {group!r} {group_now.state} after {timeout_s:.0f} s; log: {worker.log_path}")
            await asyncio.sleep(0.2)


@dataclass
class AgentsRun:
    count: int
    batch_size: int
    publish_s: float
    registered_s: float
    rss_before: int
    rss_after: int
    profile_bytes: float
    store_dir_bytes: int
    restart_joined_s: float
    restart_recovered_s: float
    restart_first_answer_s: float
    rss_after_restart: int

    def result(self, settings: Settings) -> BenchResult:
        per_agent = (self.rss_after - self.rss_before) / self.count
        figures = {
            **asdict(self), "partitions": settings.partitions, "table_store": settings.table_store,
            "cores": os.cpu_count(), "published_per_s": self.count / self.publish_s,
            "registered_per_s": self.count / self.registered_s, "rss_bytes_per_agent": per_agent,
        }  # fmt: skip
        return BenchResult(
            "agents",
            figures,
            [
                f"swarmstream bench agents: {self.count:,} agents, bulk events of {self.batch_size}, "
                f"{settings.partitions} partitions, {settings.table_store} store, {os.cpu_count()} cores",
                f"  published         {self.publish_s:7.1f} s   {self.count / self.publish_s:>10,.0f} agents/s",
                f"  in the table      {self.registered_s:7.1f} s   {self.count / self.registered_s:>10,.0f} agents/s"
                "  (publish start -> last profile stored)",
                f"  worker RSS        {self.rss_after / 2**20:7.0f} MiB at the end "
                f"({self.rss_before / 2**20:.0f} MiB before): {per_agent:,.0f} bytes per agent",
                f"  packed profile    {self.profile_bytes:7.0f} bytes on average (value only; key and dict slot extra)",
                f"  store on disk     {self.store_dir_bytes / 2**20:7.1f} MiB under the worker's data dir",
                f"  restart           {self.restart_first_answer_s:.1f} s from the new worker's start to its first "
                f"answer: in its group at {self.restart_joined_s:.1f} s, table rebuilt from the changelog "
                f"at {self.restart_recovered_s:.1f} s; RSS {self.rss_after_restart / 2**20:.0f} MiB",
            ],
        )


def mean_profile_bytes(seed: int, sample: int = 2_000) -> float:
    packed = [len(profile_format.pack(profiles.created(p))) for p in personas(sample, seed)]
    return sum(packed) / len(packed)


async def first_answer(settings: Settings, request_id: str, timeout_s: float) -> float:
    consumer = make_consumer(settings, group_id=None)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(settings.responses_topic, p) for p in range(settings.partitions)])
        await consumer.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                for record in batch:
                    if RESPONSES.decode(record.value).request_id == request_id:
                        return time.perf_counter()
        raise TimeoutError(f"no answer to the request published at the restart after {timeout_s:.0f} s")
    finally:
        await consumer.stop()


async def bench_agents(settings: Settings, count: int, seed: int, show_progress: bool) -> BenchResult:
    with LocalStack(settings) as stack:
        port = free_port()
        stack.settings = settings = stack.settings.model_copy(update={"worker_metrics_port": port})
        url = f"http://{settings.metrics_host}:{port}/metrics"
        await ensure_topics(settings)
        worker = stack.start_worker(loglevel="info")
        async with aiohttp.ClientSession() as session, EventPublisher(settings) as publisher:
            # A warm-up agent outside the measured range: the clock starts once the worker has joined.
            await publisher.publish(settings.agents_topic, personas(1, seed, start=count))
            await wait_for_profiles(session, url, worker, 1, timeout_s=180)
            rss_before = memory_bytes(worker.pid)
            started = time.perf_counter()
            with progress_bar(count, "publish agents", show_progress, "agents") as bar:
                await publisher.publish(
                    settings.agents_topic,
                    persona_batches(count, seed, settings.partitions, settings.agent_batch_size),
                    bar,
                )
            published = time.perf_counter()
            with progress_bar(count + 1, "register agents", show_progress, "agents") as bar:
                bar.update(1)
                registered = await wait_for_profiles(session, url, worker, count + 1, 600 + count / 2_000, bar)
            rss_after = memory_bytes(worker.pid)
            store_bytes = dir_bytes(Path(settings.data_dir) / "faust")

            worker.stop(timeout=60)
            restarted = time.perf_counter()
            worker = stack.start_worker(loglevel="info")
            (request,) = random_requests(1, agents=count, seed=seed)
            answered = asyncio.create_task(first_answer(settings, request.request_id, 600))
            await publisher.publish(settings.requests_topic, [request])
            joined = await wait_for_group(settings, settings.app_id, worker, 600)
            recovered = await wait_for_profiles(session, url, worker, count + 1, 600)
            answered_at = await answered
            rss_restarted = memory_bytes(worker.pid)
    run = AgentsRun(
        count=count,
        batch_size=settings.agent_batch_size,
        publish_s=published - started,
        registered_s=registered - started,
        rss_before=rss_before,
        rss_after=rss_after,
        profile_bytes=mean_profile_bytes(seed),
        store_dir_bytes=store_bytes,
        restart_joined_s=joined - restarted,
        restart_recovered_s=recovered - restarted,
        restart_first_answer_s=answered_at - restarted,
        rss_after_restart=rss_restarted,
    )
    return run.result(settings)
