"""Helpers for integration tests: a running pipeline, and topic readers outside any consumer group."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import aiohttp
from aiokafka import TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from streams import profiles
from swarmstream import codec, profile_format
from swarmstream.events import DeadLetter, Event, InteractionResponded
from swarmstream.publisher import EventPublisher
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics, make_consumer, read_to_end

E = TypeVar("E", bound=Event)


class TopicReader:
    """Accumulates every event of one type from a topic, in the background."""

    def __init__(self, settings: Settings, topic: str, event_type: type[E]):
        self.settings = settings
        self.topic = topic
        self.event_type = event_type
        self.events: list[E] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> TopicReader:
        consumer = make_consumer(self.settings, group_id=None)
        await consumer.start()
        consumer.assign([TopicPartition(self.topic, p) for p in range(self.settings.partitions)])
        await consumer.seek_to_beginning()
        self._task = asyncio.create_task(self._read(consumer))
        return self

    async def _read(self, consumer) -> None:
        try:
            while True:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    self.events.extend(codec.decode(r.value, self.event_type) for r in batch)
        finally:
            await consumer.stop()

    async def wait_until(self, condition: Callable[[list[E]], bool], timeout: float, what: str) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not condition(self.events):
            if self._task is not None and self._task.done():
                self._task.result()
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; have {len(self.events)}")
            await asyncio.sleep(0.2)

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


class RunningPipeline:
    """Worker processes plus readers of the response and dead-letter topics, and a publisher.

    ``async with RunningPipeline(settings) as pipe:`` then ``pipe.publisher``, ``pipe.responses``,
    ``pipe.dead_letters``, ``pipe.stack.start_worker()``. ``metrics_ports``: one worker each, serving
    ``/metrics`` there, and the block starts once each has partitions; else one worker without.
    """

    def __init__(self, settings: Settings, metrics_ports: list[int] | None = None):
        self.metrics_ports = metrics_ports
        self.stack = LocalStack(settings)
        self.responses = TopicReader(settings, settings.responses_topic, InteractionResponded)
        self.dead_letters = TopicReader(settings, settings.deadletter_topic, DeadLetter)
        self.publisher = EventPublisher(settings)

    async def __aenter__(self) -> RunningPipeline:
        await ensure_topics(self.stack.settings)
        self.stack.__enter__()
        if self.metrics_ports is None:
            self.worker = self.stack.start_worker(loglevel="info")
        else:
            for port in self.metrics_ports:
                self.worker = self.stack.start_worker(loglevel="info", metrics_port=port)
            await self.stack.until_assigned(self.metrics_ports, 120)
        for part in (self.responses, self.dead_letters, self.publisher):
            await part.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        for part in (self.publisher, self.dead_letters, self.responses):
            await part.__aexit__(*exc)
        self.stack.__exit__(*exc)


async def scrape(port: int, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of metric ``name`` a process serves on ``port``, by their labels."""
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as answer:
        text = await answer.text()
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


async def read_topic(settings: Settings, topic: str, event_type: type[E]) -> list[tuple[int, int, E]]:
    """Every event now in ``topic`` as ``(partition, offset, event)``, read outside any group."""
    return [(p, offset, codec.decode(value, event_type)) for p, offset, _, value in await read_records(settings, topic)]


async def read_records(settings: Settings, topic: str) -> list[tuple[int, int, bytes | None, bytes | None]]:
    """Every record now in ``topic`` as ``(partition, offset, key, value)``, read outside any group."""
    return [(r.partition, r.offset, r.key, r.value) async for batch in read_to_end(settings, [topic]) for r in batch]


async def restored_table(settings: Settings) -> dict[str, profiles.Profile]:
    """The table as faust's recovery rebuilds it: the last changelog value per key, tombstones deleting."""
    table: dict[str, profiles.Profile] = {}
    for _, _, key, value in sorted(await read_records(settings, settings.profiles_changelog_topic)):
        assert key is not None
        agent_id = key.decode()
        if value is None:
            table.pop(agent_id, None)
        else:
            table[agent_id] = profile_format.unpack(agent_id, value)
    return table
