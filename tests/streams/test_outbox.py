"""The outbox: inbox messages batched per partition, posts and engagements copied to every partition, each acked on
delivery."""

from __future__ import annotations

from streams.outbox import Outbox
from streams.routing import Routing
from swarmstream import codec
from swarmstream.events import AgentMessage, AgentsMessaged, Engagement, FeedEngaged, FeedPost, FeedPosted
from swarmstream.partitions import partition_for
from tests.memory_worker import MemoryTopic

PARTITIONS = 3


async def test_messages_go_to_their_recipients_partitions_and_posts_and_engagements_to_every_partition():
    topic = MemoryTopic("agents")
    producer = topic.app.producer
    outbox = Outbox(topic, Routing(PARTITIONS))
    said = outbox.add(AgentMessage(agent_id="agent-1", message_id="m1", from_agent_id="agent-2", content="hi"))
    posted = [
        outbox.post(FeedPost(post_id=f"p{i}", from_agent_id="agent-2", content=f"news {i}", community="cooks"))
        for i in range(3)
    ]
    liked = outbox.engage(Engagement(key="k1", post_id="p0", agent_id="agent-3", kind="like", round=2))
    assert not said.done() and not any(future.done() for future in [*posted, liked]), "nothing is sent before the flush"
    await outbox.flush()
    await said
    for future in [*posted, liked]:
        await future
    records = [
        (codec.decode(record.value, AgentsMessaged, FeedPosted, FeedEngaged), record.partition)
        for record in producer.sent
    ]
    (messaged,) = [(event, p) for event, p in records if isinstance(event, AgentsMessaged)]
    assert messaged[1] == partition_for("agent-1", PARTITIONS)
    pools = sorted((p, [post.post_id for post in e.posts]) for e, p in records if isinstance(e, FeedPosted))
    assert pools == [(p, ["p0", "p1", "p2"]) for p in range(PARTITIONS)], "every post reaches every partition"
    engaged = sorted((p, [made.key for made in e.engagements]) for e, p in records if isinstance(e, FeedEngaged))
    assert engaged == [(p, ["k1"]) for p in range(PARTITIONS)]
    await outbox.flush()
    assert len(producer.sent) == len(records), "an empty flush sends nothing"
