"""The agent registry: folds agent events into the ``agent-profiles`` table."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter, defaultdict

import faust
from faust.types import RecordMetadata

from streams import profiles
from streams.delivery_watch import DeliveryWatch
from streams.feed_board import FeedBoard
from streams.moderation import Moderated
from streams.post_pool import PostPool
from streams.profile_store import ProfileStore
from streams.publishing import WorkerTopics, dead_letter, send
from streams.routing import Routing
from streams.stream_events import StreamEvents
from swarmstream import codec
from swarmstream.agents_codec import AgentsCreatedRecord, AgentSpecRecord
from swarmstream.events import (
    AgentCreated,
    AgentDeleted,
    AgentMessage,
    AgentsCreated,
    AgentsMessaged,
    AgentSpec,
    Broadcast,
    Event,
    FeedEngaged,
    FeedPost,
    FeedPosted,
    Moderation,
    derived_id,
)
from swarmstream.settings import Settings
from swarmstream.topic_values import AGENTS

log = logging.getLogger(__name__)

# Agents of a bulk creation stored and sent in one step: a default record (500) in one changelog batch, about
# 5 ms of the loop; a record of 10,000 in ten.
CREATION_SLICE = 1_000


class AgentRegistry:
    """Profiles keyed by agent id, co-partitioned with interaction requests.

    Events are folded one at a time, in arrival order; each is acked once the changelog records it
    wrote are on the broker, so a restart never commits past a profile the changelog lacks. An
    event on another partition than its agent's is forwarded there (on the agents topic),
    by ``routing``.
    """

    def __init__(
        self,
        store: ProfileStore,
        board: FeedBoard,
        pool: PostPool,
        topics: WorkerTopics,
        routing: Routing,
        watch: DeliveryWatch,
        settings: Settings,
    ):
        self.store = store
        self.board = board
        self.pool = pool
        # What moderation took out of the feeds: kept in the boards' table, beside the boards and the pool.
        self.moderated = Moderated(board.table)
        self.topics = topics
        self.routing = routing
        self.events = StreamEvents(watch)
        self.settings = settings
        # Read by the worker's metrics: agent events applied, by change; events by outcome
        # (success, dead_letter, error, forwarded: records sent on to their agents' partitions).
        self.changes: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        # When the registry last folded an event of each agents partition (loop time).
        self.last_progress: dict[int, float] = {}
        # Requests waiting for their speaker's profile, by agent id: woken only by that agent.
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def get(self, agent_id: str) -> profiles.Profile | None:
        return self.store.get(agent_id)

    async def wait_for(
        self, agent_id: str, partition: int, grace_s: float, max_wait_s: float
    ) -> profiles.Profile | None:
        """The profile, or None once the registry has been idle on ``partition`` for ``grace_s``.

        Agent and interaction topics are read concurrently, so a request can overtake the creation
        of its speaker: by a moment normally, by minutes when both topics have a backlog. While the
        registry is still folding agent events of the speaker's partition (same key, same partition
        number), the creation may be among them, so the wait goes on, up to ``max_wait_s``.
        """
        profile = self.get(agent_id)
        if profile is not None:
            return profile
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            idle_since = max(started, self.last_progress.get(partition, started))
            remaining = min(idle_since + grace_s, started + max_wait_s) - loop.time()
            if remaining <= 0:
                return None
            # Woken by this agent's event only: with thousands of requests waiting, a broadcast on
            # every agent event cost more than the LLM calls. The timeout re-checks idleness, and
            # the table, which recovery fills without passing through ``handle``.
            arrived: asyncio.Future[None] = loop.create_future()
            self._waiters.setdefault(agent_id, set()).add(arrived)
            try:
                await asyncio.wait({arrived}, timeout=remaining)
            finally:
                waiters = self._waiters.get(agent_id)
                if waiters is not None:
                    waiters.discard(arrived)
                    if not waiters:
                        del self._waiters[agent_id]
            profile = self.get(agent_id)
            if profile is not None:
                return profile

    def forget(self, revoked: set) -> None:
        """Revoked partitions: their unacked events belong to the next owner."""
        self.events.forget(revoked)
        self.store.forget_cache()
        self.board.forget_cache()
        self.pool.forget_cache()
        self.moderated.forget_cache()

    def _advance(self, partition: int) -> None:
        self.last_progress[partition] = asyncio.get_running_loop().time()

    def _wake(self, agent_id: str) -> None:
        for arrived in self._waiters.pop(agent_id, ()):
            if not arrived.done():
                arrived.set_result(None)

    async def run(self, stream: faust.StreamT) -> None:
        """The faust agent of the agents topic: acks off, one event at a time."""
        # Sequential on purpose: table writes are cheap and must follow arrival order per agent.
        async for event in self.events.read(stream):
            await self.take(event)

    async def take(self, event: faust.EventT) -> None:
        """Fold one event; it is acked once what it wrote is on the broker."""
        delivery: asyncio.Future[object] | None
        try:
            delivery = await self.handle(event)
        except Exception as exc:  # an escaping exception would skip the event
            log.exception("agent event failed")
            self.outcomes["error"] += 1
            await dead_letter(self.topics.dead_letters, event, "processing_error", repr(exc))
            delivery = None
        self.events.ack_when(event, delivery)
        self._advance(event.message.partition)

    async def handle(self, event: faust.EventT) -> asyncio.Future[object] | None:
        """Apply one agent event; returns the delivery of the changelog records it wrote, if any."""
        try:
            change = AGENTS.decode(event.value, fast=True)
        except codec.DecodeError as exc:  # the topic's policy: a dead letter with the codec's reason
            self.outcomes["dead_letter"] += 1
            await dead_letter(self.topics.dead_letters, event, exc.reason, exc.detail, ids=exc.ids)
            return None
        partition = event.message.partition
        if isinstance(change, AgentsCreated | AgentsCreatedRecord | AgentsMessaged):
            return await self._apply_bulk(event, change)
        if isinstance(change, FeedPosted):
            # Every partition gets its own copy: kept on the partition it is read on (broadcasts on the
            # boards, the agents' posts in the pool).
            self.outcomes["success"] += 1
            self.changes["feed_posted"] += len(change.posts)
            deliveries = await self.board.add(partition, change.posts)
            deliveries += await self.pool.add(partition, change.posts)
            return asyncio.gather(*deliveries) if deliveries else None
        if isinstance(change, FeedEngaged):
            self.outcomes["success"] += 1
            deliveries, dropped = await self.pool.engage(partition, change.engagements)
            self.changes["engaged"] += len(change.engagements) - dropped
            self.changes["engagement_dropped"] += dropped
            return asyncio.gather(*deliveries) if deliveries else None
        if isinstance(change, Broadcast):
            return await self._spread(change)
        if isinstance(change, Moderation):  # one copy per partition, kept where it is read
            self.outcomes["success"] += 1
            self.changes["moderated"] += 1
            return await self.moderated.apply(partition, change)
        home = self.routing.home(change.agent_id)
        if home != partition:
            return await self._send_home(event, change, [change.agent_id], home)
        if isinstance(change, AgentDeleted):
            self.outcomes["success"] += 1
            if self.store.peek(change.agent_id) is None:
                return None  # already gone: a replayed deletion changes nothing
            self.changes["deleted"] += 1
            return await self.store.delete(change.agent_id, partition)
        updated = profiles.apply(self.store.peek(change.agent_id), change)
        if updated is None:
            self.outcomes["dead_letter"] += 1
            await dead_letter(
                self.topics.dead_letters,
                event,
                "unknown_agent",
                f"update for agent {change.agent_id!r}, which was never created",
                decoded=change,
            )
            return None
        delivered = await self.store.put(updated, partition)
        self.outcomes["success"] += 1
        self.changes["created" if isinstance(change, AgentCreated) else "updated"] += 1
        self._wake(change.agent_id)
        return delivered

    async def _spread(self, broadcast: Broadcast) -> asyncio.Future[object]:
        """A broadcast read on one partition, copied to every partition's board (derived ids: replays send the same)."""
        self.outcomes["success"] += 1
        self.changes["broadcast"] += 1
        post = FeedPost(
            post_id=broadcast.event_id,
            from_agent_id=broadcast.author,
            content=broadcast.content,
            kind="broadcast",
            community=broadcast.community,
            created_at=broadcast.created_at,
            round=broadcast.from_round,
            run_id=broadcast.run_id,
            shown_until=broadcast.until_round,
        )
        deliveries = []
        for partition in range(self.routing.partitions):
            copy = FeedPosted(
                event_id=derived_id("broadcast", broadcast.event_id, partition),
                request_id=broadcast.request_id,
                posts=[post],
            )
            deliveries.append(await send(self.topics.agents, copy, partition=partition))
        return asyncio.gather(*deliveries)

    async def _send_home(
        self, event: faust.EventT, change: Event, strays: list[str], home: int, part: bytes | None = None
    ) -> asyncio.Future[RecordMetadata] | None:
        """``change``, whose agents (``strays``) all hash to partition ``home``, read on another: forwarded
        there, once, else dead-lettered. ``part``: ``change`` encoded, a bulk record's entries of one
        partition sent alone (their letter holds just them); else the record goes as it is.

        Clients with another partitioner (librdkafka's CRC32, keyless records) put agents anywhere;
        stored here, a profile could never be found by its requests, which go where the agent hashes.
        """
        key = change.key if part is not None else None
        letter = functools.partial(dead_letter, self.topics.dead_letters, event, decoded=change, value=part, key=key)
        value = part if part is not None else event.value
        delivery = await self.routing.send_home(self.topics.agents, event, home, value, change.key, strays, letter)
        self.outcomes["forwarded" if delivery is not None else "dead_letter"] += 1
        return delivery

    async def _apply_bulk(
        self, event: faust.EventT, change: AgentsCreated | AgentsCreatedRecord | AgentsMessaged
    ) -> asyncio.Future[object] | None:
        """A bulk record: its own partition's agents applied here, the others forwarded to theirs (once)."""
        partition = event.message.partition
        items: list[AgentSpec] | list[AgentSpecRecord] | list[AgentMessage] = (
            change.messages if isinstance(change, AgentsMessaged) else change.agents
        )
        # Agents stored elsewhere than their requests are routed to could never be found: forwarded.
        strays: dict[int, list] = self.routing.by_home(items, _agent_of)
        mine: list = strays.pop(partition, [])
        if strays and isinstance(change, AgentsCreatedRecord):  # the rare record to forward: as the event itself
            return await self._apply_bulk(event, AGENTS.decode(event.value))
        if not mine and len(strays) == 1:
            ((home, group),) = strays.items()
            return await self._send_home(event, change, [item.agent_id for item in group], home)
        if not isinstance(change, AgentsMessaged):
            deliveries = await self._create(mine, partition)
        else:
            self._deliver(mine, partition)
            deliveries = []
        if mine:
            self.outcomes["success"] += 1
        field = "messages" if isinstance(change, AgentsMessaged) else "agents"
        for home, group in sorted(strays.items()):
            # The entries of one partition each, the record's id derived: a replay sends the same.
            part = change.model_copy(update={"event_id": derived_id("forwarded", change.event_id, home), field: group})
            ids = [item.agent_id for item in group]
            forwarded = await self._send_home(event, part, ids, home, part=codec.encode(part))
            if forwarded is not None:
                deliveries.append(forwarded)
        return asyncio.gather(*deliveries) if deliveries else None

    async def _create(
        self, specs: list[AgentSpec] | list[AgentSpecRecord], partition: int
    ) -> list[asyncio.Future[object]]:
        store = self.store
        deliveries = []
        for start in range(0, len(specs), CREATION_SLICE):
            # Each slice's reads and writes in one step: a replayed creation never overwrites a memory line
            # an interaction stored meanwhile. Between slices the loop runs (10,000 agents would hold it).
            made = [profiles.created(spec, store.peek(spec.agent_id)) for spec in specs[start : start + CREATION_SLICE]]
            deliveries.append(await store.put_many(made, partition))
            for profile in made:
                self._wake(profile["agent_id"])
            await asyncio.sleep(0)
        self.changes["created"] += len(specs)
        return deliveries

    def _deliver(self, messages: list[AgentMessage], partition: int) -> None:
        """Into the recipients' inboxes. Like an agent's memory, written to the changelog with the next flush."""
        settings, store = self.settings, self.store
        by_agent: dict[str, list[AgentMessage]] = defaultdict(list)
        for message in messages:
            by_agent[message.agent_id].append(message)
        for agent_id, said in by_agent.items():
            profile = store.peek(agent_id)
            if profile is None:
                self.changes["message_dropped"] += len(said)  # no such agent (any more)
                continue
            updated = profiles.deliver(profile, said, settings.agent_inbox_size, settings.agent_inbox_chars)
            if updated is not None:
                store.put_soon(updated, partition)
                self.changes["messaged"] += len(said)


def _agent_of(item: AgentSpec | AgentSpecRecord | AgentMessage) -> str:
    return item.agent_id
