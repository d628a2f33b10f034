"""The requests' intake: records stay undecoded until there is room to start their requests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from faust.types.tuples import ConsumerMessage

from streams.interactions import InteractionHandler
from streams.request_intake import RequestIntake
from swarmstream import codec
from swarmstream.events import InteractionRequested, InteractionsRequested
from swarmstream.partitions import partition_for
from swarmstream.settings import Settings

SETTINGS = Settings(
    max_pending_events=20, max_concurrent=8, llm_min_concurrent=1, stream_buffer_size=2, fetch_max_records=2
)
AGENT = "agent-1"
HOME = partition_for(AGENT, SETTINGS.partitions)


class Event:
    """What the intake reads of a faust event: its message, value and ack."""

    def __init__(self, offset: int, value: bytes):
        self.message = ConsumerMessage(
            topic=SETTINGS.requests_topic, partition=HOME, offset=offset, timestamp=0.0, timestamp_type=0,
            headers=[], key=AGENT.encode(), value=value, checksum=None,
        )  # fmt: skip
        self.value = value
        self.acked = False

    def ack(self) -> None:
        self.acked = True


# An agent with AGENT's partition: the speaker not created yet in the second test.
NEWCOMER = "agent-18"
assert partition_for(NEWCOMER, SETTINGS.partitions) == HOME


def bulk(count: int, agent: str = AGENT) -> bytes:
    requests = [InteractionRequested(agent_id=agent, context=f"hello {i}") for i in range(count)]
    return codec.encode(InteractionsRequested(requests=requests))


async def until(condition: Callable[[], bool]) -> None:
    """Wait up to a second for ``condition``: the requests end on the loop once the gate opens."""
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0.01)


class Registry:
    """The registry as the handler asks it whether a speaker waits: which speakers have a profile."""

    def __init__(self, known: set[str]):
        self.store = known


class BlockedHandler(InteractionHandler):
    """Requests that end when the test says so; counts what was handled."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, Registry({AGENT}), None, None, None, None)  # type: ignore[arg-type]
        self.gate = asyncio.Event()
        self.handled: list[str] = []

    async def handle(self, record: Any, index: int, request: Any) -> None:
        await self.gate.wait()
        self.handled.append(request.context)
        return None


class Blocked(RequestIntake):
    """An intake whose requests end when the test says so."""

    def __init__(self, settings: Settings = SETTINGS) -> None:
        self.blocked = BlockedHandler(settings)
        super().__init__(settings, self.blocked, None)  # type: ignore[arg-type]
        self.gate = self.blocked.gate


async def test_a_full_worker_keeps_bulk_records_undecoded_and_acks_them_in_order():
    intake = Blocked()  # pauses at 10 requests pending
    events = [Event(offset, bulk(8)) for offset in range(5)]
    for event in events:
        intake._accept(event)
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
    intake = Blocked(settings)  # starts 4 requests at once, pauses at 10 pending
    first, newcomers, last = Event(0, bulk(6)), Event(1, bulk(3, NEWCOMER)), Event(2, bulk(2))
    for event in (first, newcomers, last):
        intake._accept(event)
    await asyncio.sleep(0)
    assert len(intake._running) == 4 and len(intake._backlog) == 2
    assert [event for event, _, _ in intake._unread] == [newcomers, last]
    assert intake.pending == 11
    intake.gate.set()
    await until(lambda: last.acked)
    assert first.acked and newcomers.acked and last.acked


async def test_requests_awaiting_their_speakers_creation_start_beyond_the_limit():
    intake = Blocked(SETTINGS.model_copy(update={"max_concurrent": 1}))  # 4 at once, pauses at 10
    known, newcomers, later = Event(0, bulk(2)), Event(1, bulk(5, NEWCOMER)), Event(2, bulk(2))
    for event in (known, newcomers, later):
        intake._accept(event)
    await asyncio.sleep(0)
    # Waiting is all they would do: holding back the requests behind them would slow those to their grace.
    assert len(intake._running) == 7 and not intake._backlog
    assert [event for event, _, _ in intake._unread] == [later]
    intake.gate.set()
    await until(lambda: later.acked)
    assert known.acked and newcomers.acked and later.acked
