"""The agent registry: folds agent events into the ``agent-profiles`` table."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import faust

from streams import profiles
from streams.publishing import dead_letter
from swarmstream import codec
from swarmstream.events import AgentCreated, AgentUpdated

log = logging.getLogger(__name__)


class AgentRegistry:
    """Profiles keyed by agent id, co-partitioned with interaction requests."""

    def __init__(self, table: faust.Table, dead_letters: faust.TopicT):
        self.table = table
        self.dead_letters = dead_letters
        # When the registry last folded an event of each agents partition (loop time).
        self.last_progress: dict[int, float] = {}
        self._progressed = asyncio.Event()

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
            now = loop.time()
            idle_since = max(started, self.last_progress.get(partition, started))
            remaining = min(idle_since + grace_s, started + max_wait_s) - now
            if remaining <= 0:
                return None
            progressed = self._progressed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progressed.wait(), remaining)
            profile = self.get(agent_id)
            if profile is not None:
                return profile

    def _advance(self, partition: int) -> None:
        self.last_progress[partition] = asyncio.get_running_loop().time()
        # Wake every waiter: each checks whether its own agent arrived.
        progressed, self._progressed = self._progressed, asyncio.Event()
        progressed.set()

    async def run(self, stream: faust.StreamT) -> None:
        # Sequential on purpose: table writes are cheap and must follow arrival order per agent.
        async for event in stream.events():
            try:
                await self.handle(event)
            except Exception as exc:  # an escaping exception would skip the event
                log.exception("agent event failed")
                await dead_letter(self.dead_letters, event, "processing_error", repr(exc))
            self._advance(event.message.partition)

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
