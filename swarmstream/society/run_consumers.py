"""What runs beside a society run's rounds: its graph consumer and its record, both in the run's directory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition

from consumers import population
from consumers.graph import GraphConsumer
from consumers.record import RecordConsumer
from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters

# How long the record may take, once the run has ended, to read what the run wrote last.
RECORD_CATCH_UP_S = 300.0


class RunConsumers:
    """The run's graph (``runs/RUN_ID/graph.sqlite3``) and record (``runs/RUN_ID/record``), while it runs.

    ``async with RunConsumers(settings, run_id, resumed) as consumers:`` starts both; a new run's read
    the outcomes from where they end now, a resumed one's from their groups' commits. :meth:`finish`
    waits until the record holds all the run wrote, then makes its tables.
    """

    def __init__(self, settings: Settings, run_id: str, resumed: bool):
        self.settings = settings.with_run_graph(run_id)
        self.run_id = run_id
        self.resumed = resumed
        self.graph: GraphConsumer | None = None
        self.record: RecordConsumer | None = None
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> RunConsumers:
        settings = self.settings
        start_at = None
        if not self.resumed:
            topics = (settings.responses_topic, settings.deadletter_topic)
            start_at = await fetch_highwaters(
                settings, [TopicPartition(topic, p) for topic in topics for p in range(settings.partitions)]
            )
        self.graph = GraphConsumer(settings, group_suffix=f"graph-run-{self.run_id}", start_at=start_at)
        consumers: list[GraphConsumer | RecordConsumer] = [self.graph]
        if settings.run_record:
            self.record = RecordConsumer(settings, self.run_id, start_at)
            consumers.append(self.record)
        self._tasks = [asyncio.create_task(consumer.run(self._stop)) for consumer in consumers]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=30)
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if self.graph is not None:
            self.graph.store.close()

    async def seed_graph(self) -> int:
        """A new run's graph starts as its population's ties are (imported, or made in earlier runs): read from
        the agents topic a partition at a time. Returns how many agents the population holds (read in the
        same pass: a run at ten million agents reads its population once before its first round's)."""
        assert self.graph is not None
        agents = 0
        async for _, ties in population.by_partition(self.settings, population.TIES):
            agents += len(ties)
            friends = [(agent, friend) for agent, held in ties.items() for friend in held.friends]
            follows = [(agent, followed) for agent, held in ties.items() for followed in held.follows]
            if friends or follows:
                self.graph.store.add_ties(friends, follows)  # the store is used by this thread only
        return agents

    @property
    def record_dir(self) -> str | None:
        return str(self.settings.run_dir(self.run_id) / "record") if self.settings.run_record else None

    def check(self) -> None:
        """Raise what stopped either consumer, if one did."""
        for task in self._tasks:
            if task.done():
                task.result()

    async def finish(self, watch: Callable[[Awaitable[None]], Awaitable[None]] | None = None) -> None:
        """Once the run has ended: the record catches up with everything on its topics, then becomes its tables."""
        if self.record is None:
            return
        caught_up = self.record.until_caught_up(RECORD_CATCH_UP_S)
        await (watch(caught_up) if watch is not None else caught_up)
        await asyncio.to_thread(self.record.finish)
