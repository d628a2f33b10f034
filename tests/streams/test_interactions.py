"""A request's guards: each bad, misrouted or repeated request ends dead-lettered or forwarded, never raised."""

from __future__ import annotations

import asyncio
from typing import Any

from faust.types.tuples import ConsumerMessage

from streams.held_record import HeldRecord
from streams.interactions import InteractionHandler
from streams.request_records import read_request_record
from swarmstream import codec
from swarmstream.codec import FORWARDED_HEADER
from swarmstream.events import DeadLetter, InteractionRequested, InteractionsRequested
from swarmstream.llm.client import Completion
from swarmstream.partitions import partition_for
from swarmstream.settings import Settings

SETTINGS = Settings()
AGENT = "agent-1"
HOME = partition_for(AGENT, SETTINGS.partitions)
# A speaker of another partition than AGENT's.
STRANGER = next(f"agent-{i}" for i in range(100) if partition_for(f"agent-{i}", SETTINGS.partitions) != HOME)


class Producer:
    """Records what would go to the broker; every send is delivered at once."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, topic: str, key: bytes, value: bytes, partition: int, timestamp: None, headers: list) -> Any:
        self.sent.append({"topic": topic, "key": key, "value": value, "partition": partition, "headers": headers})
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


class Topic:
    def __init__(self, name: str, producer: Producer):
        self.name = name
        self.app = type("App", (), {"producer": producer})()

    def get_topic_name(self) -> str:
        return self.name


class Registry:
    """Only ``known`` speakers have a profile; waiting for another ends at once."""

    def __init__(self, known: frozenset[str] = frozenset()):
        self.store = known

    async def wait_for(self, agent_id: str, partition: int, grace: float, max_wait: float) -> dict | None:
        return {"name": agent_id} if agent_id in self.store else None


class Engine:
    """Answers every call at once."""

    async def complete(self, messages: list) -> Completion:
        return Completion(content="hello", model="m", prompt_tokens=3, completion_tokens=1, latency_s=0.01)


class Event:
    def __init__(self, value: bytes, partition: int = HOME, offset: int = 0, headers: list | None = None):
        self.message = ConsumerMessage(
            topic=SETTINGS.requests_topic, partition=partition, offset=offset, timestamp=0.0, timestamp_type=0,
            headers=headers or [], key=AGENT.encode(), value=value, checksum=None,
        )  # fmt: skip
        self.value = value


def handler(known: frozenset[str] = frozenset()) -> tuple[InteractionHandler, Producer]:
    producer = Producer()
    topics = (Topic(name, producer) for name in ("requests", "responses", "dead-letters"))
    settings = SETTINGS.model_copy(update={"agent_memory_size": 0})
    made = InteractionHandler(settings, Registry(known), *topics, outbox=None)  # type: ignore[arg-type,misc]
    made.llm = Engine()  # type: ignore[assignment]
    return made, producer


async def handle(handler: InteractionHandler, event: Event) -> list[Any]:
    """Every request of ``event``'s record handled, as the intake would; their deliveries."""
    read = read_request_record(event.value)
    record = HeldRecord(event, len(read.requests) + len(read.bad), read.batched, asyncio.Future())  # type: ignore[arg-type]
    items = [*read.requests, *((bad.index or 0, bad) for bad in read.bad)]
    return [await handler.handle(record, index, request) for index, request in items]


def letters(producer: Producer) -> list[DeadLetter]:
    return [codec.decode(sent["value"]) for sent in producer.sent if sent["topic"] == "dead-letters"]


async def test_a_record_that_is_no_request_is_dead_lettered_with_its_reason():
    processor, producer = handler()
    assert await handle(processor, Event(b"\xc1 not msgpack")) == [None]
    (letter,) = letters(producer)
    assert letter.reason == "malformed_payload" and letter.source_value == b"\xc1 not msgpack"
    assert processor.outcomes["dead_letter"] == 1


async def test_a_request_on_another_partition_than_its_speakers_is_forwarded_once_marked_with_its_place():
    processor, producer = handler()
    request = InteractionRequested(agent_id=STRANGER, context="hi")
    (delivery,) = await handle(processor, Event(codec.encode(request), offset=7))
    assert delivery is not None and delivery.done()
    (forwarded,) = producer.sent
    assert forwarded["partition"] == partition_for(STRANGER, SETTINGS.partitions)
    assert (FORWARDED_HEADER, f"{HOME}:7:0".encode()) in forwarded["headers"]
    assert processor.outcomes["forwarded"] == 1
    # Read again where it was sent to, yet not its speaker's partition: dead-lettered, not forwarded again.
    again = Event(forwarded["value"], partition=HOME, headers=forwarded["headers"])
    assert await handle(processor, again) == [None]
    assert [letter.reason for letter in letters(producer)] == ["wrong_partition"]


async def test_a_bulk_record_all_for_another_partition_goes_on_whole():
    processor, producer = handler()
    requests = [InteractionRequested(agent_id=STRANGER, context=str(i)) for i in range(3)]
    event = Event(codec.encode(InteractionsRequested(requests=requests)))
    read = read_request_record(event.value)
    home = processor.home_of_record(read, event)  # type: ignore[arg-type]
    assert home == partition_for(STRANGER, SETTINGS.partitions)
    await processor.forward_record(event, read, home)  # type: ignore[arg-type]
    (forwarded,) = producer.sent
    assert forwarded["value"] == event.value and processor.outcomes["forwarded"] == 3
    mixed = [*requests, InteractionRequested(agent_id=AGENT, context="mine")]
    event = Event(codec.encode(InteractionsRequested(requests=mixed)))
    assert processor.home_of_record(read_request_record(event.value), event) is None  # type: ignore[arg-type]


async def test_an_event_id_read_at_another_place_is_a_duplicate_and_at_the_same_place_a_redelivery():
    processor, producer = handler(known=frozenset({AGENT}))
    value = codec.encode(InteractionRequested(agent_id=AGENT, context="hi"))
    await handle(processor, Event(value, offset=1))
    await handle(processor, Event(value, offset=1))  # redelivered after a restart: answered again
    await handle(processor, Event(value, offset=2))  # published twice
    answers = [codec.decode(sent["value"]) for sent in producer.sent if sent["topic"] == "responses"]
    assert [answer.content for answer in answers] == ["hello", "hello"]
    assert answers[0].event_id == answers[1].event_id, "the answer again is the same event"
    assert [letter.reason for letter in letters(producer)] == ["duplicate_event"]


async def test_a_dead_lettered_request_read_again_is_a_second_chance_not_a_duplicate():
    processor, producer = handler()  # no speaker exists: unknown_agent
    value = codec.encode(InteractionRequested(agent_id=AGENT, context="hi"))
    await handle(processor, Event(value, offset=1))
    await handle(processor, Event(value, offset=5))  # replayed from the dead letters (swarmstream dlq replay)
    assert [letter.reason for letter in letters(producer)] == ["unknown_agent", "unknown_agent"]
