"""The agent registry: folds agent events into the ``agent-profiles`` table."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import Counter, defaultdict

import faust
from faust.types import RecordMetadata

from streams import delivery_watch, profiles
from streams.delivery_watch import DeliveryWatch
from streams.feed_board import FeedBoard
from streams.ordered_acks import OrderedAcks
from streams.profile_store import FLUSH_SLICE, ProfileStore
from streams.publishing import dead_letter, forward, forwarded_from, send
from swarmstream import codec
from swarmstream.events import (
    AgentCreated,
    AgentDeleted,
    AgentMessage,
    AgentsCreated,
    AgentsMessaged,
    AgentSpec,
    Broadcast,
    Event,
    FeedPost,
    FeedPosted,
    derived_id,
)
from swarmstream.partitions import partition_for
from swarmstream.settings import Settings
from swarmstream.topic_values import AGENTS

log = logging.getLogger(__name__)


class AgentRegistry:
    """Profiles keyed by agent id, co-partitioned with interaction requests.

    Events are folded one at a time, in arrival order; each is acked once the changelog records it
    wrote are on the broker, so a restart never commits past a profile the changelog lacks. An
    event on another partition than its agent's is forwarded there (``agents``: the topic read).
    """

    def __init__(
        self,
        store: ProfileStore,
        board: FeedBoard,
        agents: faust.TopicT,
        dead_letters: faust.TopicT,
        watch: DeliveryWatch,
        settings: Settings,
    ):
        self.store = store
        self.board = board
        self.agents = agents
        self.dead_letters = dead_letters
        self.watch = watch
        self.settings = settings
        self.partitions = settings.partitions
        self.acks: OrderedAcks[faust.EventT] = OrderedAcks(
            ack=lambda event: event.ack(), partition_of=lambda event: event.message.tp
        )
        # Read by the worker's metrics: agent events applied, by change; events by outcome
        # (success, dead_letter, error, forwarded: records sent on to their agents' partitions).
        self.changes: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.consumed = 0
        # When the registry last folded an event of each agents partition (loop time).
        self.last_progress: dict[int, float] = {}
        # Requests waiting for their speaker's profile, by agent id: woken only by that agent.
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        # murmur2 is pure Python; a bulk creation asks it once per agent.
        self._partition_of = functools.lru_cache(maxsize=1 << 16)(partition_for)

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
        self.acks.forget(revoked)
        self.store.forget_cache()
        self.board.forget_cache()

    def _advance(self, partition: int) -> None:
        self.last_progress[partition] = asyncio.get_running_loop().time()

    def _wake(self, agent_id: str) -> None:
        for arrived in self._waiters.pop(agent_id, ()):
            if not arrived.done():
                arrived.set_result(None)

    async def run(self, stream: faust.StreamT) -> None:
        # Sequential on purpose: table writes are cheap and must follow arrival order per agent.
        consumer = stream.app.consumer
        async for event in stream.noack().events():
            self.consumed += 1
            message = event.message
            watched = self.watch.delivered(message.tp, message.offset)
            if watched is not None:
                await delivery_watch.apply(consumer, message.tp, watched)
            delivery: asyncio.Future[object] | None
            try:
                delivery = await self.handle(event)
            except Exception as exc:  # an escaping exception would skip the event
                log.exception("agent event failed")
                self.outcomes["error"] += 1
                await dead_letter(self.dead_letters, event, "processing_error", repr(exc))
                delivery = None
            self.acks.track(event, delivery)
            self._advance(message.partition)

    async def handle(self, event: faust.EventT) -> asyncio.Future[object] | None:
        """Apply one agent event; returns the delivery of the changelog records it wrote, if any."""
        try:
            change = AGENTS.decode(event.value)
        except codec.DecodeError as exc:  # the topic's policy: a dead letter with the codec's reason
            self.outcomes["dead_letter"] += 1
            await dead_letter(self.dead_letters, event, exc.reason, exc.detail, ids=exc.ids)
            return None
        partition = event.message.partition
        if isinstance(change, AgentsCreated | AgentsMessaged):
            return await self._apply_bulk(event, change)
        if isinstance(change, FeedPosted):
            # Every partition gets its own copy: kept on the partition it is read on.
            self.outcomes["success"] += 1
            self.changes["feed_posted"] += len(change.posts)
            deliveries = await self.board.add(partition, change.posts)
            return asyncio.gather(*deliveries) if deliveries else None
        if isinstance(change, Broadcast):
            return await self._spread(change)
        home = self._partition_of(change.agent_id, self.partitions)
        if home != partition:
            return await self._misrouted(event, change, [change.agent_id], home)
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
                self.dead_letters,
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
        )
        deliveries = []
        for partition in range(self.partitions):
            copy = FeedPosted(
                event_id=derived_id("broadcast", broadcast.event_id, partition),
                request_id=broadcast.request_id,
                posts=[post],
            )
            deliveries.append(await send(self.agents, copy, partition=partition))
        return asyncio.gather(*deliveries)

    async def _misrouted(
        self, event: faust.EventT, change: Event, strays: list[str], home: int
    ) -> asyncio.Future[RecordMetadata] | None:
        """An event whose agents all hash to partition ``home``, read on another: forwarded there as it is, once.

        Clients with another partitioner (librdkafka's CRC32, keyless records) put agents anywhere;
        stored here, a profile could never be found by its requests, which go where the agent hashes.
        """
        if forwarded_from(event.message) is not None:
            await self._dead_letter_strays(event, change, strays)
            return None
        self.outcomes["forwarded"] += 1
        return await forward(self.agents, event, event.value, strays[0].encode(), home)

    async def _dead_letter_strays(self, event: faust.EventT, change: Event, strays: list[str]) -> None:
        self.outcomes["dead_letter"] += 1
        await dead_letter(
            self.dead_letters,
            event,
            "wrong_partition",
            f"{len(strays)} agents hash to other partitions of {self.partitions} than {event.message.partition}, "
            f"and the record was forwarded already (do the topic's partitions match SWARMSTREAM_PARTITIONS?); "
            f"not applied: {', '.join(strays[:20])}",
            decoded=change,
        )

    async def _apply_bulk(
        self, event: faust.EventT, change: AgentsCreated | AgentsMessaged
    ) -> asyncio.Future[object] | None:
        """A bulk record: its own partition's agents applied here, the others forwarded to theirs (once)."""
        partition = event.message.partition
        items: list[AgentSpec] | list[AgentMessage] = (
            change.agents if isinstance(change, AgentsCreated) else change.messages
        )
        mine: list = []
        # Agents stored elsewhere than their requests are routed to could never be found: forwarded.
        strays: dict[int, list] = defaultdict(list)
        for item in items:
            home = self._partition_of(item.agent_id, self.partitions)
            (mine if home == partition else strays[home]).append(item)
        if not mine and len(strays) == 1:
            ((home, group),) = strays.items()
            return await self._misrouted(event, change, [item.agent_id for item in group], home)
        if isinstance(change, AgentsCreated):
            deliveries = await self._create(mine, partition)
        else:
            self._deliver(mine, partition)
            deliveries = []
        if not strays:
            self.outcomes["success"] += 1
        elif forwarded_from(event.message) is not None:
            # Partly applied is still a dead letter: the strays were not.
            await self._dead_letter_strays(
                event, change, [item.agent_id for group in strays.values() for item in group]
            )
        else:
            self.outcomes["success"] += 1
            for home, group in sorted(strays.items()):
                # The entries of one partition each, the record's id derived: a replay sends the same.
                field = "agents" if isinstance(change, AgentsCreated) else "messages"
                part = change.model_copy(
                    update={"event_id": derived_id("forwarded", change.event_id, home), field: group}
                )
                self.outcomes["forwarded"] += 1
                deliveries.append(await forward(self.agents, event, codec.encode(part), part.key, home))
        return asyncio.gather(*deliveries) if deliveries else None

    async def _create(self, specs: list[AgentSpec], partition: int) -> list[asyncio.Future[RecordMetadata]]:
        store = self.store
        deliveries = []
        for created, spec in enumerate(specs, 1):
            agent_id = spec.agent_id
            deliveries.append(await store.put(profiles.created(spec, store.peek(agent_id)), partition))
            self._wake(agent_id)
            if not created % FLUSH_SLICE:
                # A send seldom waits: a record of 10,000 agents would otherwise hold the loop in one go.
                await asyncio.sleep(0)
        self.changes["created"] += len(deliveries)
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
