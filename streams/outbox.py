"""What agents say, post and engage with, on its way to other partitions: inboxes, boards and post pools.

A listener's profile lives on its own partition, often another worker's, so a message reaches it as
an event on the agents topic. One record per message would cost as much as the interaction itself;
messages wait here and go out as one ``agents.messaged`` record per partition at each flush. Posts and
engagements (likes, reposts, ...) go to every partition's pool, as one ``feed.posted`` and one
``feed.engaged`` record per partition and flush.
"""

from __future__ import annotations

import asyncio
import functools
import time

import faust

from streams.publishing import pass_on, send
from streams.routing import Routing
from swarmstream.events import (
    SCHEMA_VERSION,
    AgentMessage,
    AgentsMessaged,
    Engagement,
    FeedEngaged,
    FeedPost,
    FeedPosted,
    derived_id,
    new_id,
)

# Messages per record at most: a full batch goes out at once, not at the next flush.
BATCH_SIZE = 1_000


class Outbox:
    """Messages for the inboxes of agents anywhere, and posts and engagements for every partition, in batches.

    :meth:`add`, :meth:`post` and :meth:`engage` return a future that completes when the broker has what was
    added: the request that said it is acked only then, so a crash before the flush loses nothing (the
    request is answered again, and the message, post or engagement, keyed by its id, is kept once).
    """

    def __init__(self, agents: faust.TopicT, routing: Routing):
        self.agents = agents
        self.routing = routing
        self.partitions = routing.partitions
        self._pending: dict[int, list[AgentMessage]] = {}
        self._delivered: dict[int, asyncio.Future[None]] = {}
        # Posts and engagements waiting, the same for every partition: they go out with the next flush.
        self._everywhere: dict[str, _Everywhere] = {"posts": _Everywhere(), "engagements": _Everywhere()}
        self._sending: set[asyncio.Task[None]] = set()  # full batches sent before the flush

    def add(self, message: AgentMessage) -> asyncio.Future[None]:
        partition = self.routing.home(message.agent_id)
        batch = self._pending.setdefault(partition, [])
        batch.append(message)
        delivered = self._delivered.get(partition)
        if delivered is None:
            delivered = self._delivered[partition] = asyncio.get_running_loop().create_future()
        if len(batch) >= BATCH_SIZE:
            self._in_background(self._send(partition))
        return delivered

    def post(self, post: FeedPost) -> asyncio.Future[None]:
        """``post`` for every partition's board or pool; the future completes when every partition has it."""
        return self._to_every_partition("posts", post)

    def engage(self, engagement: Engagement) -> asyncio.Future[None]:
        """``engagement`` for every partition's pool; the future completes when every partition has it."""
        return self._to_every_partition("engagements", engagement)

    def _to_every_partition(self, kind: str, item: FeedPost | Engagement) -> asyncio.Future[None]:
        waiting = self._everywhere[kind]
        waiting.items.append(item)
        if not waiting.delivered:
            loop = asyncio.get_running_loop()
            waiting.delivered = {p: loop.create_future() for p in range(self.partitions)}
        delivered = asyncio.gather(*waiting.delivered.values())
        if len(waiting.items) >= BATCH_SIZE:
            self._in_background(self._send_everywhere(kind))
        return delivered

    async def flush(self) -> None:
        """Send every batch waiting now."""
        await asyncio.gather(
            *(self._send(partition) for partition in list(self._pending)),
            *(self._send_everywhere(kind) for kind in self._everywhere),
        )

    def _in_background(self, sending: object) -> None:
        task = asyncio.ensure_future(sending)  # type: ignore[arg-type]
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

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
        await _send_settled(self.agents, event, partition, delivered)

    async def _send_everywhere(self, kind: str) -> None:
        waiting = self._everywhere[kind]
        items, waiting.items = waiting.items, []
        delivered, waiting.delivered = waiting.delivered, {}
        if not items:
            return
        first = items[0].post_id if isinstance(items[0], FeedPost) else items[0].key
        for partition, settled in delivered.items():
            common = {
                "event_id": derived_id(kind, first, len(items), partition),
                "schema_version": SCHEMA_VERSION,
                "created_at": time.time(),
                "request_id": new_id(),
            }
            # Each item valid already: not validated again.
            event = (
                FeedPosted.model_construct(**common, type="feed.posted", posts=items)
                if kind == "posts"
                else FeedEngaged.model_construct(**common, type="feed.engaged", engagements=items)
            )
            await _send_settled(self.agents, event, partition, settled)


class _Everywhere:
    """Items for every partition, and each partition's future, completed when its record is on the broker."""

    def __init__(self) -> None:
        self.items: list = []
        self.delivered: dict[int, asyncio.Future[None]] = {}


async def _send_settled(
    topic: faust.TopicT,
    event: AgentsMessaged | FeedPosted | FeedEngaged,
    partition: int,
    delivered: asyncio.Future[None],
) -> None:
    try:
        delivery = await send(topic, event, partition=partition)
    except Exception as exc:
        # The requests that said these are not acked: they are answered again later.
        if not delivered.done():
            delivered.set_exception(exc)
        return
    delivery.add_done_callback(functools.partial(pass_on, delivered))
