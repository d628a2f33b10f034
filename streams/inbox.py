"""What speakers say to their listeners, on its way to the listeners' inboxes (their profiles).

A listener's profile lives on its own partition, often another worker's, so a message reaches it as
an event on the agents topic. One record per message would cost as much as the interaction itself;
messages wait here and go out as one ``agents.messaged`` record per partition at each flush.
"""

from __future__ import annotations

import asyncio
import functools
import time

import faust
from faust.types import RecordMetadata

from streams.publishing import send
from swarmstream.events import SCHEMA_VERSION, AgentMessage, AgentsMessaged, derived_id, new_id
from swarmstream.partitions import partition_for

# Messages per record at most: a full batch goes out at once, not at the next flush.
BATCH_SIZE = 1_000


class Outbox:
    """Messages for the inboxes of agents anywhere, sent in batches per partition.

    :meth:`add` returns a future that completes when the broker has the message: the request that
    said it is acked only then, so a crash before the flush loses nothing (the request is answered
    again, and the message, keyed by its id, is kept once).
    """

    def __init__(self, agents: faust.TopicT, partitions: int):
        self.agents = agents
        self.partitions = partitions
        self._pending: dict[int, list[AgentMessage]] = {}
        self._delivered: dict[int, asyncio.Future[None]] = {}
        self._partition_of = functools.lru_cache(maxsize=1 << 16)(partition_for)
        self._sending: set[asyncio.Task[None]] = set()  # full batches sent before the flush

    def add(self, message: AgentMessage) -> asyncio.Future[None]:
        partition = self._partition_of(message.agent_id, self.partitions)
        batch = self._pending.setdefault(partition, [])
        batch.append(message)
        delivered = self._delivered.get(partition)
        if delivered is None:
            delivered = self._delivered[partition] = asyncio.get_running_loop().create_future()
        if len(batch) >= BATCH_SIZE:
            task = asyncio.create_task(self._send(partition))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return delivered

    async def flush(self) -> None:
        """Send every batch waiting now."""
        await asyncio.gather(*(self._send(partition) for partition in list(self._pending)))

    async def _send(self, partition: int) -> None:
        messages = self._pending.pop(partition, None)
        delivered = self._delivered.pop(partition, None)
        if not messages or delivered is None:
            return
        event = AgentsMessaged.model_construct(
            event_id=derived_id("messages", messages[0].message_id, len(messages)),
            schema_version=SCHEMA_VERSION,
            created_at=time.time(),
            request_id=new_id(),
            type="agents.messaged",
            messages=messages,  # each valid already: not validated again
        )
        try:
            delivery = await send(self.agents, event, partition=partition)
        except Exception as exc:
            # The requests that said these messages are not acked: they are answered again later.
            delivered.set_exception(exc)
            return
        delivery.add_done_callback(functools.partial(_settle, delivered))


def _settle(delivered: asyncio.Future[None], delivery: asyncio.Future[RecordMetadata]) -> None:
    if delivered.done():
        return
    if delivery.cancelled():
        delivered.cancel()
    elif (exc := delivery.exception()) is not None:
        delivered.set_exception(exc)
    else:
        delivered.set_result(None)
