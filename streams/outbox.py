"""What agents say and post, on its way to other partitions: listeners' inboxes and the feed boards.

A listener's profile lives on its own partition, often another worker's, so a message reaches it as
an event on the agents topic. One record per message would cost as much as the interaction itself;
messages wait here and go out as one ``agents.messaged`` record per partition at each flush. A post to
a community goes to every partition's feed board, as one ``feed.posted`` record per partition and flush.
"""

from __future__ import annotations

import asyncio
import functools
import time

import faust

from streams.feed_board import audience_of
from streams.publishing import pass_on, send
from streams.routing import Routing
from swarmstream.events import SCHEMA_VERSION, AgentMessage, AgentsMessaged, FeedPost, FeedPosted, derived_id, new_id

# Messages per record at most: a full batch goes out at once, not at the next flush.
BATCH_SIZE = 1_000


class Outbox:
    """Messages for the inboxes of agents anywhere, and posts for every board, sent in batches per partition.

    :meth:`add` and :meth:`post` return a future that completes when the broker has what was added:
    the request that said it is acked only then, so a crash before the flush loses nothing (the request
    is answered again, and the message or post, keyed by its id, is kept once). A board keeps the
    latest ``board_size`` posts per community: a batch sends no more than that per community.
    """

    def __init__(self, agents: faust.TopicT, routing: Routing, board_size: int):
        self.agents = agents
        self.routing = routing
        self.partitions = routing.partitions
        self.board_size = board_size
        self._pending: dict[int, list[AgentMessage]] = {}
        # Posts waiting, the same for every partition: they go out with each partition's next flush.
        self._posts: list[FeedPost] = []
        self._posts_delivered: dict[int, asyncio.Future[None]] = {}
        self._delivered: dict[int, asyncio.Future[None]] = {}
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
        """``post`` for every partition's board; the future completes when every partition has it."""
        self._posts.append(post)
        if len(self._posts) >= BATCH_SIZE:
            self._posts = _latest(self._posts, self.board_size)
        loop = asyncio.get_running_loop()
        if not self._posts_delivered:
            self._posts_delivered = {p: loop.create_future() for p in range(self.partitions)}
        return asyncio.gather(*self._posts_delivered.values())

    async def flush(self) -> None:
        """Send every batch waiting now."""
        await asyncio.gather(*(self._send(partition) for partition in list(self._pending)), self._send_posts())

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

    async def _send_posts(self) -> None:
        posts, self._posts = _latest(self._posts, self.board_size), []
        waiting, self._posts_delivered = self._posts_delivered, {}
        if not posts:
            return
        for partition, delivered in waiting.items():
            event = FeedPosted.model_construct(
                event_id=derived_id("posts", posts[0].post_id, len(posts), partition),
                schema_version=SCHEMA_VERSION,
                created_at=time.time(),
                request_id=new_id(),
                type="feed.posted",
                posts=posts,
            )
            await _send_settled(self.agents, event, partition, delivered)


def _latest(posts: list[FeedPost], size: int) -> list[FeedPost]:
    """The latest ``size`` posts of each audience: a board would push the older ones off anyway."""
    counts: dict[str, int] = {}
    kept: list[FeedPost] = []
    for post in reversed(posts):
        audience = audience_of(post.community)
        if counts.get(audience, 0) < size:
            counts[audience] = counts.get(audience, 0) + 1
            kept.append(post)
    return kept[::-1]


async def _send_settled(
    topic: faust.TopicT, event: AgentsMessaged | FeedPosted, partition: int, delivered: asyncio.Future[None]
) -> None:
    try:
        delivery = await send(topic, event, partition=partition)
    except Exception as exc:
        # The requests that said these are not acked: they are answered again later.
        if not delivered.done():
            delivered.set_exception(exc)
        return
    delivery.add_done_callback(functools.partial(pass_on, delivered))
