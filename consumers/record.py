"""A run's record consumer: the run's events, as they arrive, into its record (``DATA_DIR/runs/RUN_ID/record``).

Its own consumer group (``{APP_ID}-record-{RUN_ID}``), at least once: a batch's rows are written as
parts before its offsets are committed, and a batch read again writes the same rows again, which the
record's keys fold into one (``consumers/record_files.py``). It reads:

- the responses and dead letters of the run (from where they ended when the run began), the dead
  letters attributed by the request they hold;
- the runs topic's events of the run (its config, each round's start and figures, how it ended);
- the agents topic from its beginning: creations, updates, deletions and broadcasts (``event-type``
  tells them from the workers' inbox and board records, which are skipped unread), each kept only on
  its agent's own partition, as the workers apply them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence

from aiokafka import ConsumerRecord, TopicPartition

from consumers.record_files import RecordFiles
from consumers.record_tables import Rows
from consumers.runner import consume_batches
from swarmstream import codec, topic_values
from swarmstream.agents_codec import AgentsCreatedRecord
from swarmstream.codec import FORWARDED_HEADER, event_type
from swarmstream.events import (
    AgentCreated,
    AgentDeleted,
    AgentsCreated,
    AgentsMessaged,
    AgentUpdated,
    Broadcast,
    DeadLetter,
    FeedEngaged,
    FeedPosted,
    InteractionRequested,
    InteractionResponded,
    InteractionsRequested,
)
from swarmstream.partitions import partition_for
from swarmstream.pricing import Prices
from swarmstream.settings import Settings
from swarmstream.transport import fetch_highwaters

log = logging.getLogger(__name__)

# Batches: the larger, the fewer parts (each a file per table); what arrived in this long goes anyway.
BATCH_RECORDS = 20_000
BATCH_WAIT_S = 1.0
# Rows held before they are written as a part: a batch of bulk creations can be a million agents.
PART_ROWS = 200_000
# The agent events the record keeps, by the ``event-type`` header the workers' own records also carry.
_KEPT = (AgentCreated, AgentsCreated, AgentUpdated, AgentDeleted, Broadcast)
_AGENT_TYPES = frozenset(kept.model_fields["type"].default.encode() for kept in _KEPT)


class RecordConsumer:
    """Writes run ``run_id``'s record while it runs; :meth:`until_caught_up` then :meth:`finish` when it ends.

    :param start_at: where a new record starts reading the responses and dead letters (their ends when
        the run began); a resumed run's record goes on from its group's commits.
    """

    def __init__(self, settings: Settings, run_id: str, start_at: dict[TopicPartition, int] | None = None):
        self.settings = settings
        self.run_id = run_id
        self.files = RecordFiles(settings.run_dir(run_id) / "record")
        self.start_at = start_at
        self.group_id = f"{settings.app_id}-record-{run_id}"
        self.prices = Prices.of(settings.llm_prices)
        self.handled: dict[TopicPartition, int] = {}  # the next offset to read, all before it recorded
        self.skipped: Counter[str] = Counter()  # records not recorded, by why
        self._runs_key = run_id.encode()

    @property
    def topics(self) -> list[str]:
        s = self.settings
        return [s.agents_topic, s.responses_topic, s.deadletter_topic, s.runs_topic]

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        await consume_batches(
            self.settings, self.topics, self.group_id, self.handle, stop, ready,
            min_records=BATCH_RECORDS, max_wait_s=BATCH_WAIT_S, start_at=self.start_at, handled=self.handled,
        )  # fmt: skip

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        # Off the event loop: a batch of bulk creations is a million agents to decode, and the group's
        # heartbeats (and the driver's own work, in the same process) must go on meanwhile.
        await asyncio.to_thread(self.record, records)

    def record(self, records: Sequence[ConsumerRecord]) -> None:
        """Write what ``records`` add to the record, in parts of about :data:`PART_ROWS` rows at most."""
        rows = Rows()
        for index, record in enumerate(records, 1):
            self._add(rows, record)
            if not index % 100 and rows.count() >= PART_ROWS:
                self.files.write_parts(rows.tables())
                rows = Rows()
        if rows.count():
            self.files.write_parts(rows.tables())

    def rows(self, records: Sequence[ConsumerRecord]) -> Rows:
        """What ``records`` add to the record."""
        rows = Rows()
        for record in records:
            self._add(rows, record)
        return rows

    def _add(self, rows: Rows, record: ConsumerRecord) -> None:
        """What one record adds: a response or dead letter of the run, an event of its log, an agent event."""
        s = self.settings
        topic = record.topic
        try:
            if topic == s.responses_topic:
                response = topic_values.RESPONSES.decode(record.value, fast=True)
                if response.run_id == self.run_id:
                    rows.response(response, self.prices)
            elif topic == s.deadletter_topic:
                self._dead_letter(rows, topic_values.DEAD_LETTERS.decode(record.value))
            elif topic == s.runs_topic:
                if record.key == self._runs_key:
                    rows.run_event(topic_values.RUNS.decode(record.value))  # type: ignore[arg-type]
            elif (kind := event_type(record.headers)) is None or kind in _AGENT_TYPES:  # no header: read to tell
                self._agent_event(rows, record, kind)
        except codec.DecodeError as error:  # the workers dead-letter bad agent events; others are strays
            self.skipped[error.reason] += 1

    def _dead_letter(self, rows: Rows, letter: DeadLetter) -> None:
        """A dead letter of one of the run's requests (a bulk record's letter: each of its requests of the run)."""
        if letter.source_topic != self.settings.requests_topic:
            return
        try:
            held = codec.decode(letter.source_value, InteractionRequested, InteractionsRequested)
        except codec.DecodeError:
            self.skipped["dead_letter_of_no_request"] += 1
            return
        requests = held.requests if isinstance(held, InteractionsRequested) else [held]
        for request in requests:
            if request.run_id == self.run_id:
                rows.dead_letter(letter, request)

    def _agent_event(self, rows: Rows, record: ConsumerRecord, kind: bytes | None) -> None:
        partition, partitions = record.partition, self.settings.partitions
        # Bulk creations (a million agents at a run's start) through the fast mirror of the event.
        event = topic_values.AGENTS.decode(record.value, fast=True)
        if isinstance(event, AgentsMessaged | FeedPosted | FeedEngaged):
            return  # the workers' inbox and board records, published by a client that set no header
        if isinstance(event, Broadcast):
            rows.broadcast(event, partition, record.offset)
            return
        if isinstance(event, AgentsCreated | AgentsCreatedRecord):
            specs = list(enumerate(event.agents))
            if not _at_home(record, specs[0][1].agent_id, partitions):
                # As the registry applies it: the agents of the partition it is read on (strays go on).
                specs = [(i, s) for i, s in specs if partition_for(s.agent_id, partitions) == partition]
            rows.created(event.event_id, partition, record.offset, specs)
        elif partition_for(event.agent_id, partitions) != partition:  # type: ignore[attr-defined]
            return  # misplaced: applied where it is forwarded to
        elif isinstance(event, AgentCreated):
            rows.created(event.event_id, partition, record.offset, [(0, event)])
        else:
            rows.agent_event(event, partition, record.offset)

    async def until_caught_up(self, limit_s: float) -> None:
        """Until the record holds everything on its topics now (their ends when called)."""
        partitions = [TopicPartition(t, p) for t in self.topics for p in range(self.settings.partitions)]
        ends = await fetch_highwaters(self.settings, partitions)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        while True:
            behind = {tp: end for tp, end in ends.items() if end > self.handled.get(tp, 0)}
            if not behind:
                return
            if loop.time() > deadline:
                at = self.handled
                shown = ", ".join(f"{tp.topic}[{tp.partition}] {at.get(tp, 0)}/{end}" for tp, end in behind.items())
                raise TimeoutError(f"the record of run {self.run_id} did not catch up in {limit_s:.0f} s: {shown}")
            await asyncio.sleep(0.2)

    def finish(self) -> dict[str, object]:
        """Compact the record into the study's tables; what was written where."""
        paths = self.files.compact()
        return {"directory": str(self.files.directory), "tables": {name: str(path) for name, path in paths.items()}}


def _at_home(record: ConsumerRecord, first: str, partitions: int) -> bool:
    """A bulk creation as our producers write them: on its first agent's partition, not forwarded, so all its
    agents are at home (producers group them by partition). Another client's record mixing partitions has its
    strays forwarded, and read again there: the record folds the two creations of each into one."""
    if partition_for(first, partitions) != record.partition:
        return False
    return not any(name == FORWARDED_HEADER for name, _ in record.headers or ())


def record_outcomes(
    settings: Settings,
    run_id: str,
    outcomes: Sequence[InteractionResponded | DeadLetter],
    requests: dict[str, InteractionRequested],
) -> dict[str, object]:
    """Outcomes read after the run (questions put to its agents once it ended) into its record, compacted.

    The rows are those the run's record consumer would have written; read twice, they fold into one.
    ``requests``: the requests by request id, which a dead letter is attributed by.
    """
    consumer = RecordConsumer(settings, run_id)
    rows = Rows()
    for outcome in outcomes:
        if isinstance(outcome, DeadLetter):
            request = requests.get(outcome.request_id)
            if request is not None:
                rows.dead_letter(outcome, request)
        else:
            rows.response(outcome, consumer.prices)
    if rows.count():
        consumer.files.write_parts(rows.tables())
    return consumer.finish()
