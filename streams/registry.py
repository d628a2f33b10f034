"""The agent registry: folds agent events into the ``agent-profiles`` table."""

from __future__ import annotations

import asyncio
import logging

import faust

from streams import faust_compat, profiles
from streams.faust_compat import DeliveryWatch
from streams.publishing import dead_letter
from swarmstream import codec
from swarmstream.events import AgentCreated, AgentUpdated

log = logging.getLogger(__name__)


class AgentRegistry:
    """Profiles keyed by agent id, co-partitioned with interaction requests."""

    def __init__(self, table: faust.Table, dead_letters: faust.TopicT, watch: DeliveryWatch):
        self.table = table
        self.dead_letters = dead_letters
        self.watch = watch
        # When the registry last folded an event of each agents partition (loop time).
        self.last_progress: dict[int, float] = {}
        # Requests waiting for their speaker's profile, by agent id: woken only by that agent.
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}

    def get(self, agent_id: str) -> profiles.Profile | None:
        data = self.table.get(agent_id.encode())
        return profiles.unpack(data) if data else None

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

    def _advance(self, partition: int) -> None:
        self.last_progress[partition] = asyncio.get_running_loop().time()

    def _wake(self, agent_id: str) -> None:
        for arrived in self._waiters.pop(agent_id, ()):
            if not arrived.done():
                arrived.set_result(None)

    async def run(self, stream: faust.StreamT) -> None:
        # Sequential on purpose: table writes are cheap and must follow arrival order per agent.
        consumer = stream.app.consumer
        async for event in stream.events():
            message = event.message
            watched = self.watch.delivered(message.tp, message.offset)
            if watched is not None:
                await faust_compat.apply(consumer, message.tp, watched)
            try:
                await self.handle(event)
            except Exception as exc:  # an escaping exception would skip the event
                log.exception("agent event failed")
                await dead_letter(self.dead_letters, event, "processing_error", repr(exc))
            self._advance(message.partition)

    async def handle(self, event: faust.EventT) -> None:
        try:
            change = codec.decode(event.value, AgentCreated, AgentUpdated)
        except codec.DecodeError as exc:
            await dead_letter(self.dead_letters, event, exc.reason, exc.detail)
            return
        key = change.agent_id.encode()
        current = self.table.get(key)
        updated = profiles.apply(profiles.unpack(current) if current else None, change)
        if updated is None:
            await dead_letter(
                self.dead_letters,
                event,
                "unknown_agent",
                f"update for agent {change.agent_id!r}, which was never created",
                decoded=change,
            )
            return
        self.table[key] = profiles.pack(updated)
        self._wake(change.agent_id)
