"""The requests' intake: records stay undecoded until there is room to start their requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from producers.personas import persona
from streams.interactions import InteractionHandler
from streams.request_intake import RequestIntake
from swarmstream import codec
from swarmstream.events import InteractionRequested, InteractionsRequested
from swarmstream.partitions import partition_for
from swarmstream.settings import Settings
from tests.memory_worker import MemoryEvent, MemoryWorker

SETTINGS = Settings(
    max_pending_events=20, max_concurrent=8, llm_min_concurrent=1, stream_buffer_size=2, fetch_max_records=2
)
AGENT = persona(1, seed=7).agent_id
HOME = partition_for(AGENT, SETTINGS.partitions)
# An agent of AGENT's partition, not created: its requests wait for it.
NEWCOMER = next(f"newcomer-{i}" for i in range(100) if partition_for(f"newcomer-{i}", SETTINGS.partitions) == HOME)


def bulk(count: int, agent: str = AGENT) -> bytes:
    requests = [InteractionRequested(agent_id=agent, context=f"hello {i}") for i in range(count)]
    return codec.encode(InteractionsRequested(requests=requests))


async def until(condition: Callable[[], bool]) -> None:
    """Wait up to a second for ``condition``: the requests end on the loop once the gate opens."""
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.01)


class BlockedHandler(InteractionHandler):
    """The in-memory worker's handler, whose requests end when the test says so; counts what was handled."""

    def __init__(self, worker: MemoryWorker) -> None:
        super().__init__(worker.settings, worker.registry, worker.outbox)
        self.gate = asyncio.Event()
        self.handled: list[str] = []

    async def handle(self, record: Any, index: int, request: Any) -> None:
        await self.gate.wait()
        self.handled.append(request.context)
        return None


class Blocked(RequestIntake):
    """The in-memory worker's intake, with AGENT created, whose requests end when the test says so."""

    def __init__(self, settings: Settings = SETTINGS) -> None:
        self.worker = MemoryWorker(settings)
        self.blocked = BlockedHandler(self.worker)
        super().__init__(settings, self.blocked, self.worker.registry.events.watch)
        self.gate = self.blocked.gate

    async def created(self) -> Blocked:
        self.worker.publish(persona(1, seed=7))
        await self.worker.run()
        return self

    def event(self, value: bytes) -> MemoryEvent:
        """A request record on AGENT's partition."""
        return MemoryEvent(self.worker.put(SETTINGS.requests_topic, value, AGENT.encode(), HOME))


async def test_a_full_worker_keeps_bulk_records_undecoded_and_acks_them_in_order():
    intake = await Blocked().created()  # pauses at 10 requests pending
    events = [intake.event(bulk(8)) for _ in range(5)]
    for event in events:
        intake.accept(event)
    await asyncio.sleep(0)
    # 10 requests run (8 of the first record, 2 of the second), 6 wait decoded, 3 records wait as bytes.
    assert len(intake._running) == 10
    assert len(intake._backlog) == 6
    assert [event for event, _, _ in intake._unread] == events[2:]
    assert intake.pending == 40
    intake.gate.set()
    await until(lambda: all(event.acked for event in events))
    assert all(event.acked for event in events)
    assert len(intake.blocked.handled) == 40 and intake.pending == 0


async def test_requests_start_a_few_times_the_llm_calls_at_once_and_those_awaiting_their_speaker_beyond():
    settings = SETTINGS.model_copy(update={"max_concurrent": 1})
    intake = await Blocked(settings).created()  # starts 4 requests at once, pauses at 10 pending
    first, newcomers, last = intake.event(bulk(6)), intake.event(bulk(3, NEWCOMER)), intake.event(bulk(2))
    for event in (first, newcomers, last):
        intake.accept(event)
    await asyncio.sleep(0)
    assert len(intake._running) == 4 and len(intake._backlog) == 2
    assert [event for event, _, _ in intake._unread] == [newcomers, last]
    assert intake.pending == 11
    intake.gate.set()
    await until(lambda: last.acked)
    assert first.acked and newcomers.acked and last.acked


async def test_requests_awaiting_their_speakers_creation_start_beyond_the_limit():
    intake = await Blocked(SETTINGS.model_copy(update={"max_concurrent": 1})).created()  # 4 at once, pauses at 10
    known, newcomers, later = intake.event(bulk(2)), intake.event(bulk(5, NEWCOMER)), intake.event(bulk(2))
    for event in (known, newcomers, later):
        intake.accept(event)
    await asyncio.sleep(0)
    # Waiting is all they would do: holding back the requests behind them would slow those to their grace.
    assert len(intake._running) == 7 and not intake._backlog
    assert [event for event, _, _ in intake._unread] == [later]
    intake.gate.set()
    await until(lambda: later.acked)
    assert known.acked and newcomers.acked and later.acked
