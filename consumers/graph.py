"""The social-graph consumer: interaction edges and friendships from the response stream.

Accepted friend requests become mutual friendships (within ``max_friends_per_agent``), and each
agent's profile is told: an ``agent.updated`` adding the friend, published before the batch is
committed. A replayed acceptance publishes again; the registry's set operation makes that harmless.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence

from aiokafka import ConsumerRecord

from consumers.graph_store import GraphStore
from consumers.runner import consume_batches
from producers.publisher import EventPublisher
from swarmstream import codec
from swarmstream.events import AgentUpdated, InteractionResponded, derived_id
from swarmstream.settings import Settings

# Responses per store transaction, or what arrived in this long: SQLite's commit is most of the cost
# (45,000 edge updates/s in batches of 2,000, 63,000 of 10,000, 73,000 of 20,000, at a million edges).
TRANSACTION_RECORDS = 20_000
TRANSACTION_WAIT_S = 0.5


def open_store(settings: Settings) -> GraphStore:
    """PostgreSQL when ``graph_dsn`` is set, else SQLite at ``graph_db_path``."""
    if settings.graph_dsn is not None:
        return GraphStore(dsn=settings.graph_dsn.get_secret_value())
    return GraphStore(settings.graph_db_path)


def friend_updates(pairs: set[tuple[str, str]]) -> list[AgentUpdated]:
    """Both sides of each friendship, with ids that stay the same on replays."""
    return [
        AgentUpdated(event_id=derived_id("friend.added", agent, friend), agent_id=agent, add_friends=[friend])
        for a, b in sorted(pairs)
        for agent, friend in ((a, b), (b, a))
    ]


class GraphConsumer:
    group_id_suffix = "graph"

    def __init__(self, settings: Settings, store: GraphStore | None = None):
        self.settings = settings
        self.store = store or open_store(settings)
        self.friend_requests: Counter[str] = Counter()
        self._publisher: EventPublisher | None = None

    @property
    def group_id(self) -> str:
        return f"{self.settings.app_id}-{self.group_id_suffix}"

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        responses = []
        for record in records:
            try:
                responses.append(codec.decode(record.value, InteractionResponded))
            except codec.DecodeError:
                continue  # only workers write this topic; the metrics consumer counts strays
        changes = self.store.apply(responses, self.settings.max_friends_per_agent)
        self.friend_requests.update(changes.friend_requests)
        if changes.friendships:
            assert self._publisher is not None, "run() publishes friendships"
            await self._publisher.publish(self.settings.agents_topic, friend_updates(changes.friendships))

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        async with EventPublisher(self.settings) as publisher:
            self._publisher = publisher
            try:
                await consume_batches(
                    self.settings,
                    [self.settings.responses_topic],
                    self.group_id,
                    self.handle,
                    stop,
                    ready,
                    min_records=TRANSACTION_RECORDS,
                    max_wait_s=TRANSACTION_WAIT_S,
                )
            finally:
                self._publisher = None
