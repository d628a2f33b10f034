"""The agent registry: folds agent events into the ``agent-profiles`` table."""

from __future__ import annotations

import asyncio
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

    def get(self, agent_id: str) -> profiles.Profile | None:
        data = self.table.get(agent_id.encode())
        return profiles.unpack(data) if data else None

    async def wait_for(self, agent_id: str, grace_s: float) -> profiles.Profile | None:
        """The profile, waiting up to ``grace_s`` for its creation event to be processed.

        Agent and interaction topics are read concurrently, so a request can overtake the
        creation of its speaker by a moment.
        """
        profile = self.get(agent_id)
        deadline = asyncio.get_running_loop().time() + grace_s
        delay = 0.01
        while profile is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
            profile = self.get(agent_id)
        return profile

    async def run(self, stream: faust.StreamT) -> None:
        # Sequential on purpose: table writes are cheap and must follow arrival order per agent.
        async for event in stream.events():
            try:
                await self.handle(event)
            except Exception as exc:  # an escaping exception would skip the event
                log.exception("agent event failed")
                await dead_letter(self.dead_letters, event, "processing_error", repr(exc))

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
