"""An in-memory worker for logic tests, in the spirit of FastStream's ``TestKafkaBroker``.

The worker's own classes (``AgentRegistry``, ``InteractionHandler`` and ``RequestIntake.accept``,
``Outbox``, ``ProfileStore``, ``FeedBoard``, ``Routing``) run on in-memory topics and tables: records go
in as clients write them (the codec's bytes, keyed, at the partition the key hashes to, or wherever a
test puts them), and come out decoded as each topic's values say. The LLM is the simulator's own
reply function (``swarmstream.llm.simulator.answer``), so prompts are answered by kind exactly as over
HTTP. A test of agents -> registry -> request -> response -> follow-ups runs in milliseconds.

It is for the logic, not for the at-least-once machinery: there is no faust here, no commits, no flow
control, no rebalance, no crash. Those are tested on the real broker (the ``integration`` tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from faust.types.tuples import ConsumerMessage

from streams.delivery_watch import DeliveryWatch
from streams.feed_board import FeedBoard
from streams.interactions import InteractionHandler
from streams.outbox import Outbox
from streams.post_pool import PostPool
from streams.profile_store import ProfileStore
from streams.publishing import WorkerTopics
from streams.registry import AgentRegistry
from streams.request_intake import RequestIntake
from streams.routing import Routing
from swarmstream import codec
from swarmstream.action_space import AnswerFormat, StructuredOutputs
from swarmstream.events import DeadLetter, Event, InteractionResponded
from swarmstream.llm.client import Completion, content_of
from swarmstream.llm.engine import LLMFailure
from swarmstream.llm.simulator import answer, count_tokens
from swarmstream.partitions import partition_for
from swarmstream.profile_format import Profile
from swarmstream.settings import Settings
from swarmstream.topic_values import values_of

E = TypeVar("E", bound=Event)
Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Record:
    """A record on an in-memory topic, where it was written."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class MemoryTopics:
    """Every topic's records, by partition, in the order they were written."""

    def __init__(self) -> None:
        self.partitions: dict[str, dict[int, list[Record]]] = {}

    def append(self, topic: str, partition: int, key: bytes | None, value: bytes | None, headers: Headers) -> Record:
        log = self.partitions.setdefault(topic, {}).setdefault(partition, [])
        record = Record(topic, partition, len(log), key, value, list(headers))
        log.append(record)
        return record

    def records(self, topic: str) -> list[Record]:
        """The topic's records, partition by partition."""
        return [record for _, log in sorted(self.partitions.get(topic, {}).items()) for record in log]

    def last_values(self, topic: str) -> dict[bytes | None, bytes | None]:
        """What a changelog reader would restore: the last value per key (None: deleted)."""
        return {record.key: record.value for record in self.records(topic)}


class MemoryProducer:
    """faust's producer as our code calls it (``send``): each record written at once, its delivery done."""

    def __init__(self, topics: MemoryTopics, partitions: int):
        self.topics = topics
        self.partitions = partitions
        self.sent: list[Record] = []

    async def send(
        self, topic: str, key: bytes | None, value: bytes | None, partition: int | None, timestamp: Any, headers: Any
    ) -> asyncio.Future[Record]:
        if partition is None:
            partition = partition_for(key.decode(), self.partitions) if key else 0
        record = self.topics.append(topic, partition, key, value, headers or ())
        self.sent.append(record)
        delivered: asyncio.Future[Record] = asyncio.get_running_loop().create_future()
        delivered.set_result(record)
        return delivered


class _App:
    def __init__(self, producer: MemoryProducer):
        self.producer = producer


class MemoryTopic:
    """What our code reads of a faust topic: its name and the app's producer (one of its own if none given)."""

    def __init__(self, name: str, producer: MemoryProducer | None = None):
        self.name = name
        self.app = _App(producer or MemoryProducer(MemoryTopics(), partitions=1))

    def get_topic_name(self) -> str:
        return self.name


class MemoryTable:
    """What our code reads of a faust table: its data (raw bytes), the producer, its changelog topic."""

    def __init__(self, changelog: str = "profiles-changelog", producer: MemoryProducer | None = None):
        self.data: dict[bytes, bytes] = {}
        self.changelog_topic = MemoryTopic(changelog, producer)
        self.app = self.changelog_topic.app


def message(record: Record) -> ConsumerMessage:
    """faust's message of ``record``, as its conductor hands it to a stream."""
    return ConsumerMessage(
        topic=record.topic, partition=record.partition, offset=record.offset, timestamp=0.0, timestamp_type=0,
        headers=record.headers, key=record.key, value=record.value, checksum=None,
    )  # fmt: skip


class MemoryEvent:
    """What our code reads of a faust event: its message, value and ack."""

    def __init__(self, record: Record):
        self.message = message(record)
        self.value = record.value
        self.acked = False

    def ack(self) -> None:
        self.acked = True


class SimulatedEngine:
    """The LLM engine as the handler calls it: the simulator's reply to each prompt, or ``failure`` if set.

    ``script``, if set, answers first: a reply of its own for the prompts it returns one for (an act's
    chosen action, say), None to leave the prompt to the simulator.
    """

    def __init__(
        self, model: str = "gpt-3.5-turbo", max_tokens: int = 150, structured_outputs: StructuredOutputs = "none"
    ):
        self.model = model
        self.max_tokens = max_tokens
        self.structured_outputs = structured_outputs
        self.prompts: list[list[dict[str, Any]]] = []
        # What each call's request held besides the prompt (an act's schema or tools, by structured_outputs).
        self.bodies: list[dict[str, Any]] = []
        self.failure: LLMFailure | None = None
        self.script: Callable[[list[dict[str, Any]]], str | None] | None = None
        # The model each call asked for (None: the pool's default), in order.
        self.models: list[str | None] = []

    async def complete(
        self, messages: list[dict[str, Any]], shape: AnswerFormat | None = None, model: str | None = None
    ) -> Completion:
        self.prompts.append(messages)
        self.models.append(model)
        self.bodies.append(shape.body(self.structured_outputs) if shape is not None else {})
        if self.failure is not None:
            raise self.failure
        scripted = self.script(messages) if self.script is not None else None
        said = answer(messages, self.max_tokens, self.bodies[-1]).message()
        content = scripted if scripted is not None else content_of(said) or ""
        prompt = " ".join(str(message.get("content", "")) for message in messages)
        served = model or self.model
        return Completion(
            content, served, count_tokens(prompt), count_tokens(content), latency_s=0.001, endpoint=f"{served}@memory"
        )

    def set_share(self, share: float) -> None:
        pass

    async def close(self) -> None:
        pass


# A request whose speaker does not exist waits this long for it (the worker's default is 10 s).
GRACE_S = 0.05


class MemoryWorker:
    """One worker holding every partition, on in-memory topics. ``publish`` records, ``await run()``, read.

    :param settings: the worker's settings (default: the defaults, with ``GRACE_S`` for unknown speakers).
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any):
        settings = settings or Settings(unknown_agent_grace_s=GRACE_S, unknown_agent_max_wait_s=1.0)
        self.settings = settings = settings.model_copy(update=overrides)
        self.topics = MemoryTopics()
        self.producer = MemoryProducer(self.topics, settings.partitions)
        self.worker_topics = WorkerTopics(
            *(MemoryTopic(name, self.producer) for name in (settings.agents_topic, settings.requests_topic)),
            *(MemoryTopic(name, self.producer) for name in (settings.responses_topic, settings.deadletter_topic)),
            MemoryTopic(settings.prompts_topic, self.producer),
        )  # type: ignore[arg-type]
        self.profiles = MemoryTable(settings.profiles_changelog_topic, self.producer)
        self.boards = MemoryTable(settings.feeds_changelog_topic, self.producer)
        self.routing = Routing(settings.partitions)
        watch = DeliveryWatch(committed=lambda tp: None)
        store = ProfileStore(self.profiles, settings.profile_cache_size)
        board = FeedBoard(self.boards, settings.feed_board_size, settings.agent_inbox_chars)
        pool = PostPool(self.boards, settings.feed_pool_rounds, settings.feed_pool_size, settings.agent_inbox_chars)
        self.registry = AgentRegistry(store, board, pool, self.worker_topics, self.routing, watch, settings)
        self.outbox = Outbox(self.worker_topics.agents, self.routing)
        self.handler = InteractionHandler(settings, self.registry, self.outbox)
        self.llm = SimulatedEngine(structured_outputs=settings.llm_structured_outputs)
        self.handler.llm = self.llm  # type: ignore[assignment]
        self.intake = RequestIntake(settings, self.handler, watch)
        self.read_events: list[MemoryEvent] = []  # every event the worker read, with whether it was acked
        self._read: dict[tuple[str, int], int] = {}  # (topic, partition) -> next offset to read
        self._again: list[Record] = []  # records to read again, as after a restart

    # -- in --

    def publish(self, *events: Event, partition: int | None = None, headers: Headers = ()) -> list[Record]:
        """``events`` as a client writes them: the codec's bytes and headers, keyed by the event, at the
        partition the key hashes to (``partition``: there instead, as another partitioner might)."""
        written = []
        for event in events:
            topic = self._topic_of(event)
            key = event.key
            at = partition if partition is not None else partition_for(key.decode(), self.settings.partitions)
            written.append(self.put(topic, codec.encode(event), key, at, [*codec.headers(event), *headers]))
        return written

    def put(
        self, topic: str, value: bytes | None, key: bytes | None = None, partition: int = 0, headers: Headers = ()
    ) -> Record:
        """Any bytes on ``topic``, as a foreign client could write them."""
        return self.topics.append(topic, partition, key, value, headers)

    def redeliver(self, record: Record) -> None:
        """Read ``record`` again at the next :meth:`run`, as a worker restarted before its commit would."""
        self._again.append(record)

    def _topic_of(self, event: Event) -> str:
        for name, values in values_of(self.settings).items():
            if type(event) in values.holds:
                return name
        raise ValueError(f"no topic holds {type(event).__name__}")

    # -- work --

    async def run(self, timeout_s: float = 10.0) -> None:
        """Until there is nothing left to do: every record read (agent events by the registry, in order;
        requests by the intake), every request ended, and what waits for a flush sent (the outbox's
        messages and posts, the deferred memory writes: the worker's timer), and read in turn."""
        async with asyncio.timeout(timeout_s):
            while True:
                await self._drain()
                await asyncio.sleep(0)
                if self.intake.pending:
                    await asyncio.sleep(0.001)
                    continue
                await self.registry.store.flush()
                await self.outbox.flush()
                if not self._unread():
                    return

    async def _drain(self) -> None:
        again, self._again = self._again, []
        for record in [*again, *self._take(self.settings.agents_topic), *self._take(self.settings.requests_topic)]:
            await self.take(record)

    async def take(self, record: Record) -> None:
        """Read one record as the worker's stream would: an agent event folded (awaited), a request accepted."""
        event = MemoryEvent(record)
        self.read_events.append(event)
        if record.topic == self.settings.agents_topic:
            await self.registry.take(event)
        else:
            self.intake.accept(event)

    def _take(self, topic: str) -> list[Record]:
        """The records of ``topic`` not read yet, partition by partition, marked read."""
        taken = []
        for partition, log in sorted(self.topics.partitions.get(topic, {}).items()):
            start = self._read.get((topic, partition), 0)
            taken += log[start:]
            self._read[(topic, partition)] = len(log)
        return taken

    def _unread(self) -> bool:
        return bool(self._again) or any(
            len(log) > self._read.get((topic, partition), 0)
            for topic in (self.settings.agents_topic, self.settings.requests_topic)
            for partition, log in self.topics.partitions.get(topic, {}).items()
        )

    # -- out --

    def events(self, topic: str, *types: type[E]) -> list[E]:
        """The events on ``topic`` (of ``types``, if given), decoded as the topic's values say."""
        values = values_of(self.settings)[topic]
        decoded = [values.decode(record.value) for record in self.topics.records(topic)]
        return [event for event in decoded if not types or isinstance(event, types)]  # type: ignore[misc]

    def responses(self) -> list[InteractionResponded]:
        return self.events(self.settings.responses_topic, InteractionResponded)

    def dead_letters(self) -> list[DeadLetter]:
        return self.events(self.settings.deadletter_topic, DeadLetter)

    def reasons(self) -> list[str]:
        return [letter.reason for letter in self.dead_letters()]

    def profile(self, agent_id: str) -> Profile | None:
        return self.registry.get(agent_id)

    def sent_to(self, topic: str, where: Callable[[Record], bool] = lambda record: True) -> list[Record]:
        """Records the worker wrote to ``topic`` (not those a test put there)."""
        return [record for record in self.producer.sent if record.topic == topic and where(record)]

    def unacked(self) -> list[MemoryEvent]:
        return [event for event in self.read_events if not event.acked]


def of_partition(partitions: int, partition: int, prefix: str = "agent-", start: int = 0) -> Iterable[str]:
    """Agent ids that hash to ``partition`` of ``partitions``, in order."""
    index = start
    while True:
        candidate = f"{prefix}{index:07d}"
        if partition_for(candidate, partitions) == partition:
            yield candidate
        index += 1
