"""The social-graph consumer: interaction edges and friendships from the response stream.

Accepted friend requests become mutual friendships (within ``max_friends_per_agent``), and each
agent's profile is told: an ``agent.updated`` adding the friend, published before the batch is
committed. A replayed acceptance publishes again; the registry's set operation makes that harmless.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter as Tally
from collections.abc import Sequence

from aiohttp import web
from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, ProcessCollector

from consumers.graph_store import GraphChanges, GraphStore
from consumers.runner import consume_batches
from swarmstream import codec
from swarmstream.consumer_progress import ConsumerProgress
from swarmstream.events import AgentUpdated, derived_id
from swarmstream.metrics_http import serve_metrics
from swarmstream.publisher import EventPublisher
from swarmstream.settings import Settings
from swarmstream.topic_values import RESPONSES

# Responses per store transaction, or what arrived in this long: SQLite's commit is most of the cost,
# so larger transactions store more per second (BENCHMARKS.md, the graph store).
TRANSACTION_RECORDS = 20_000
# How often a replica on a shared (PostgreSQL) store reads the graph's size again for its gauges.
SHARED_RECOUNT_S = 15.0
TRANSACTION_WAIT_S = 0.5


def open_store(settings: Settings) -> GraphStore:
    """PostgreSQL when ``graph_dsn`` is set, else SQLite at ``graph_db_path``."""
    if settings.graph_dsn is not None:
        return GraphStore(dsn=settings.graph_dsn.get_secret_value())
    return GraphStore(settings.graph_db_path)


def friend_updates(pairs: dict[tuple[str, str], int | None]) -> list[AgentUpdated]:
    """Both sides of each friendship (with the society round it was made in), ids the same on replays."""
    return [
        AgentUpdated(
            event_id=derived_id("friend.added", agent, friend), agent_id=agent, add_friends=[friend], round=round_
        )
        for (a, b), round_ in sorted(pairs.items())
        for agent, friend in ((a, b), (b, a))
    ]


class OneReplicaStore(RuntimeError):
    """A second graph consumer of one group on SQLite: only PostgreSQL serves several replicas."""


def _refusal(group: str, detail: str) -> OneReplicaStore:
    return OneReplicaStore(
        f"graph consumer group {group!r}: {detail}. A SQLite graph store serves one replica only (each would "
        "hold half a graph, with no shared friend cap); run one, or set SWARMSTREAM_GRAPH_DSN to a PostgreSQL "
        "database that every replica shares"
    )


class GraphMetrics:
    """The graph consumer's registry: graph size and growth, friend requests, lag, process."""

    def __init__(self, store: GraphStore, progress: ConsumerProgress):
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.registry.register(progress)
        # Counted once at start, then kept up to date from each batch: a count(*) per scrape would
        # stall the consumer for a large graph.
        nodes, _ = store.counts()
        self.nodes = Gauge("swarmstream_graph_nodes", "Agents in the interaction graph", registry=self.registry)
        self.nodes.set(nodes)
        self.friendships = Gauge(
            "swarmstream_graph_friendships", "Mutual friendships in the graph (each pair once)", registry=self.registry
        )
        self.friendships.set(store.friendship_count())
        self.interactions = Counter(
            "swarmstream_graph_interactions",
            "Interactions added to the graph's edge weights (each response once)",
            registry=self.registry,
        )
        self.friend_requests = Counter(
            "swarmstream_friend_requests",
            "Friend requests recorded, by outcome (formed, already_friends, cap_reached, declined, malformed)",
            ["outcome"],
            registry=self.registry,
        )

    def recount(self, store: GraphStore) -> None:
        nodes, _ = store.counts()
        self.nodes.set(nodes)
        self.friendships.set(store.friendship_count())

    def count(self, changes: GraphChanges) -> None:
        self.nodes.inc(changes.new_nodes)
        self.friendships.inc(changes.friend_requests["formed"])
        self.interactions.inc(changes.interactions)
        for outcome, count in changes.friend_requests.items():
            self.friend_requests.labels(outcome=outcome).inc(count)


class GraphConsumer:
    """``group_suffix`` names the consumer group ``{app_id}-{suffix}``: another one reads every response again.

    ``start_at``: where a new group starts reading (the responses' ends when a session began), so that
    it reads what came since, not the topic's whole history.
    """

    def __init__(
        self,
        settings: Settings,
        store: GraphStore | None = None,
        group_suffix: str = "graph",
        start_at: dict[TopicPartition, int] | None = None,
    ):
        self.settings = settings
        self.start_at = start_at
        self.group_id_suffix = group_suffix
        self.max_friends = settings.max_friends_per_agent
        self.store = store or open_store(settings)
        self.friend_requests: Tally[str] = Tally()
        self.progress = ConsumerProgress(self.group_id)
        self.metrics = GraphMetrics(self.store, self.progress)
        self._publisher: EventPublisher | None = None
        self._recount_due = time.monotonic() + SHARED_RECOUNT_S
        self._held_all = False  # SQLite: whether this replica has held every partition (see _check_assignment)

    @property
    def group_id(self) -> str:
        return f"{self.settings.app_id}-{self.group_id_suffix}"

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        responses = []
        for record in records:
            try:
                responses.append(RESPONSES.decode(record.value, fast=True))
            except codec.DecodeError:
                continue  # only workers write this topic; the metrics consumer counts strays
        changes = self.store.apply(responses, self.max_friends)
        self.friend_requests.update(changes.friend_requests)
        self.metrics.count(changes)
        if self.store.postgres and time.monotonic() >= self._recount_due:
            # A shared store grows by every replica's batches, not only this one's: its size is read again.
            self._recount_due = time.monotonic() + SHARED_RECOUNT_S
            self.metrics.recount(self.store)
        if changes.friendships:
            assert self._publisher is not None, "run() publishes friendships"
            await self._publisher.publish(self.settings.agents_topic, friend_updates(changes.friendships))

    async def serve_metrics(self, host: str, port: int) -> web.AppRunner:
        return await serve_metrics(self.metrics.registry, host, port)

    def _check_assignment(self, assigned: list[TopicPartition]) -> None:
        """On SQLite, a replica given part of the partitions while it never held them all is a second one: refused.

        The one that held them all goes on (it gets them back once the second has left); a replica
        restarted after a crash is given them all, once the group has dropped the dead member.
        """
        if self.store.postgres:
            return
        mine = sum(1 for tp in assigned if tp.topic == self.settings.responses_topic)
        if mine == self.settings.partitions:
            self._held_all = True
        elif not self._held_all:
            raise _refusal(
                self.group_id, f"this replica got {mine} of {self.settings.partitions} partitions: another one runs"
            )

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
                    progress=self.progress,
                    check_assignment=self._check_assignment,
                    start_at=self.start_at,
                )
            finally:
                self._publisher = None
