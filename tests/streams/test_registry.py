"""The registry's wait for a speaker's profile: woken by that agent, bounded by the partition's idleness."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import msgpack

from producers.personas import persona_batches, personas
from streams.delivery_watch import DeliveryWatch
from streams.feed_board import FeedBoard
from streams.profile_store import ProfileStore
from streams.registry import AgentRegistry
from swarmstream import codec
from swarmstream.codec import FORWARDED_HEADER
from swarmstream.events import (
    AgentDeleted,
    AgentMessage,
    AgentsCreated,
    AgentsMessaged,
    AgentUpdated,
    Broadcast,
    DeadLetter,
    FeedPost,
    FeedPosted,
)
from swarmstream.partitions import partition_for
from swarmstream.settings import Settings
from tests.streams.fake_table import RecordingProducer, fake_table, fake_topic

GRACE_S = 0.2
PARTITIONS = 4


def make_registry(
    producer: RecordingProducer | None = None, cache_size: int = 100, partitions: int = PARTITIONS
) -> AgentRegistry:
    producer = producer or RecordingProducer()
    store = ProfileStore(fake_table(producer), cache_size)
    board = FeedBoard(fake_table(producer, "boards-changelog"), size=3, chars=50)
    return AgentRegistry(
        store, board, fake_topic(producer, "agents"), fake_topic(producer, "dead-letters"),
        DeliveryWatch(committed={}.get), Settings(partitions=partitions),
    )  # fmt: skip


def agent_event(change, partition: int | None = None, headers: list | None = None) -> SimpleNamespace:
    if partition is None:
        partition = partition_for(change.key.decode(), PARTITIONS)
    value = codec.encode(change)
    message = SimpleNamespace(
        partition=partition, topic="agents", offset=0, key=change.key, value=value, headers=headers or []
    )  # fmt: skip
    return SimpleNamespace(value=value, message=message)


async def fold(registry: AgentRegistry, event: SimpleNamespace) -> None:
    """What the registry's agent loop does for one event."""
    await registry.handle(event)
    registry._advance(event.message.partition)


async def test_a_waiter_gets_its_profile_when_its_agent_arrives():
    registry = make_registry(partitions=1)  # every agent on partition 0
    first, second = personas(2, seed=1)
    waiting = asyncio.create_task(registry.wait_for(second.agent_id, 0, GRACE_S, 5))
    await asyncio.sleep(0)
    await fold(registry, agent_event(first, 0))
    await asyncio.sleep(0)
    assert not waiting.done(), "another agent's creation does not answer it"
    await fold(registry, agent_event(second, 0))
    profile = await asyncio.wait_for(waiting, 1)
    assert profile is not None and profile["name"] == second.name
    assert registry._waiters == {}


async def test_an_idle_partition_ends_the_wait_with_none():
    registry = make_registry(partitions=1)  # every agent on partition 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await registry.wait_for("agent-404", 3, GRACE_S, 5) is None
    assert GRACE_S <= loop.time() - started < 1
    assert registry._waiters == {}


async def test_progress_on_the_partition_keeps_it_waiting_up_to_the_limit():
    registry = make_registry(partitions=1)  # every agent on partition 0
    loop = asyncio.get_running_loop()
    started = loop.time()
    others = list(personas(12, seed=2))
    late = others.pop()
    waiting = asyncio.create_task(registry.wait_for(late.agent_id, 0, GRACE_S, 5))
    for creation in others:  # 11 other agents, one every half grace: 0.55 s in all
        await asyncio.sleep(GRACE_S / 2)
        await fold(registry, agent_event(creation, 0))
    assert not waiting.done()
    await fold(registry, agent_event(late, 0))
    assert await asyncio.wait_for(waiting, 1) is not None
    assert loop.time() - started > 2 * GRACE_S

    limited = await registry.wait_for("agent-404", 0, GRACE_S, max_wait_s=0.1)
    assert limited is None


def dead_letters(producer: RecordingProducer) -> list[DeadLetter]:
    return [codec.decode(value, DeadLetter) for topic, _, value, _ in producer.sent if topic == "dead-letters"]


async def apply_all(registry: AgentRegistry, changes) -> None:
    for change in changes:
        await fold(registry, agent_event(change))


def society_changes():
    """Bulk creations, single creations, updates with friends, a deletion."""
    batches = list(persona_batches(40, seed=3, partitions=PARTITIONS, batch_size=8))
    singles = list(personas(5, seed=3, start=40))
    return [
        *batches,
        *singles,
        AgentUpdated(agent_id="agent-0000001", community="readers", add_friends=["agent-0000002", "agent-0000003"]),
        AgentUpdated(agent_id="agent-0000001", remove_friends=["agent-0000003"]),
        AgentDeleted(agent_id="agent-0000044"),
    ]


async def test_bulk_creations_store_every_agent_and_write_one_changelog_record_each():
    producer = RecordingProducer()
    registry = make_registry(producer)
    batches = list(persona_batches(40, seed=3, partitions=PARTITIONS, batch_size=8))
    await apply_all(registry, batches)

    assert len(registry.store) == 40
    changelog = [sent for sent in producer.sent if sent[0] == "profiles-changelog"]
    assert len(changelog) == 40
    for _, key, _, partition in changelog:
        assert partition == partition_for(key.decode(), PARTITIONS), "same partition as the agent's requests"
    profile = registry.get("agent-0000007")
    expected = next(spec for batch in batches for spec in batch.agents if spec.agent_id == "agent-0000007")
    assert profile is not None and profile["name"] == expected.name and profile["friends"] == ()
    assert registry.changes["created"] == 40


async def test_replaying_the_same_events_leaves_the_table_and_changelog_identical():
    producer = RecordingProducer()
    registry = make_registry(producer)
    changes = society_changes()
    await apply_all(registry, changes)
    table_once = dict(registry.store.table.data)
    changelog_once = producer.last_values("profiles-changelog")

    await apply_all(registry, changes)

    assert registry.store.table.data == table_once
    assert producer.last_values("profiles-changelog") == changelog_once
    assert registry.get("agent-0000044") is None
    assert changelog_once[b"agent-0000044"] is None, "a deletion writes a tombstone"
    updated = registry.get("agent-0000001")
    assert updated is not None and updated["friends"] == ("agent-0000002",) and updated["community"] == "readers"
    assert dead_letters(producer) == []


async def test_agents_on_the_wrong_partition_are_forwarded_to_their_own_once():
    producer = RecordingProducer()
    registry = make_registry(producer)
    (batch,) = persona_batches(6, seed=4, partitions=1, batch_size=10)  # one partition: mixed for 4
    home = partition_for(batch.agents[0].agent_id, PARTITIONS)
    strays = [spec for spec in batch.agents if partition_for(spec.agent_id, PARTITIONS) != home]
    assert len({partition_for(spec.agent_id, PARTITIONS) for spec in strays}) >= 2, "the seed spreads them"
    await fold(registry, agent_event(batch, home))
    assert len(registry.store) == len(batch.agents) - len(strays), "its own partition's agents are created here"

    forwarded = [(key, value, partition) for topic, key, value, partition in producer.sent if topic == "agents"]
    parts = [codec.decode(value, AgentsCreated) for _, value, _ in forwarded]
    assert sorted(spec.agent_id for part in parts for spec in part.agents) == sorted(s.agent_id for s in strays)
    for (key, _, partition), part in zip(forwarded, parts, strict=True):
        assert {partition_for(spec.agent_id, PARTITIONS) for spec in part.agents} == {partition}
        assert key == part.key and part.request_id == batch.request_id
    replay = RecordingProducer()
    await fold(make_registry(replay), agent_event(batch, home))
    assert [v for t, _, v, _ in replay.sent if t == "agents"] == [v for _, v, _ in forwarded], "a replay sends the same"
    assert registry.outcomes["forwarded"] == len(parts) and dead_letters(producer) == []


async def test_a_single_agent_event_is_forwarded_as_it_is_and_a_second_misrouting_is_a_dead_letter():
    producer = RecordingProducer()
    registry = make_registry(producer)
    (spec,) = personas(1, seed=5)
    home = partition_for(spec.agent_id, PARTITIONS)
    wrong = (home + 1) % PARTITIONS
    event = agent_event(spec, wrong)
    await fold(registry, event)
    assert producer.sent == [("agents", spec.key, event.value, home)], "same bytes, to the agent's partition"
    assert registry.get(spec.agent_id) is None

    await fold(registry, agent_event(spec, wrong, headers=[(FORWARDED_HEADER, f"{wrong}:0:0".encode())]))
    (letter,) = dead_letters(producer)
    assert letter.reason == "wrong_partition" and letter.request_id == spec.request_id
    assert registry.get(spec.agent_id) is None


async def test_updates_of_unknown_agents_and_invalid_events_are_dead_lettered_with_their_request_ids():
    producer = RecordingProducer()
    registry = make_registry(producer)
    update = AgentUpdated(agent_id="agent-9999999", name="Nobody")
    await fold(registry, agent_event(update))
    invalid = {**msgpack.unpackb(codec.encode(update)), "name": 7}
    value = msgpack.packb(invalid)
    message = SimpleNamespace(partition=0, topic="agents", offset=1, key=None, value=value, headers=[])
    await fold(registry, SimpleNamespace(value=value, message=message))

    letters = dead_letters(producer)
    assert [letter.reason for letter in letters] == ["unknown_agent", "invalid_fields"]
    assert [letter.request_id for letter in letters] == [update.request_id] * 2
    assert letters[1].agent_id == update.agent_id


async def test_messages_reach_their_recipients_inboxes_once_and_others_are_forwarded():
    producer = RecordingProducer()
    registry = make_registry(producer)
    society = list(personas(8, seed=6))
    await apply_all(registry, society)
    home = partition_for(society[0].agent_id, PARTITIONS)
    here = [p.agent_id for p in society if partition_for(p.agent_id, PARTITIONS) == home]
    there = [p.agent_id for p in society if partition_for(p.agent_id, PARTITIONS) != home]
    assert there, "the seed spreads them"
    said = [AgentMessage(agent_id=agent, message_id=f"m-{agent}", from_agent_id="x", content="hi")
            for agent in [*here, *there, "nobody-1"]]  # fmt: skip
    sent_before = len(producer.sent)
    batch = AgentsMessaged(messages=said)
    await fold(registry, agent_event(batch, home))
    await fold(registry, agent_event(batch, home))  # delivered twice: kept once
    for agent in here:
        inbox = registry.get(agent)["inbox"]  # type: ignore[index]
        assert inbox == ((f"m-{agent}", "x", "hi", "said"),)
    forwarded = [codec.decode(v, AgentsMessaged) for t, _, v, _ in producer.sent[sent_before:] if t == "agents"]
    assert {m.agent_id for part in forwarded for m in part.messages} == {*there, "nobody-1"} - set(here)
    assert dead_letters(producer) == []


async def test_a_broadcast_is_copied_to_every_partition_and_each_copy_kept_on_the_board_it_is_read_on():
    producer = RecordingProducer()
    registry = make_registry(producer)
    broadcast = Broadcast(content="The library opens tonight.", community="readers")
    await fold(registry, agent_event(broadcast, 2))
    copies = [(codec.decode(v, FeedPosted), p) for t, _, v, p in producer.sent if t == "agents"]
    assert sorted(p for _, p in copies) == list(range(PARTITIONS)), "one copy per partition"
    assert {copy.posts[0].post_id for copy, _ in copies} == {broadcast.event_id}
    assert len({copy.event_id for copy, _ in copies}) == PARTITIONS
    await fold(registry, agent_event(broadcast, 0))  # the same broadcast again: the same copies
    assert [codec.decode(v, FeedPosted).event_id for t, _, v, _ in producer.sent if t == "agents"][PARTITIONS:] == [
        copy.event_id for copy, _ in copies
    ]
    for copy, partition in copies:
        await fold(registry, agent_event(copy, partition))
        await fold(registry, agent_event(copy, partition))  # a replay keeps it once
    for partition in range(PARTITIONS):
        broadcasts, _ = registry.board.feed(partition, "readers", "agent-1", "seed", posts=3, broadcasts=2)
        assert [entry[0] for entry in broadcasts] == [broadcast.event_id]
        assert registry.board.feed(partition, "cooks", "agent-1", "seed", 3, 2) == ([], []), "another community's"
    boards = producer.last_values("boards-changelog")
    assert set(boards) == {f"{p}/c/readers".encode() for p in range(PARTITIONS)}


async def test_a_board_keeps_the_latest_posts_per_community_and_shows_a_sample_of_others_posts():
    registry = make_registry()
    posts = [
        FeedPost(post_id=f"post-{i}", from_agent_id=f"agent-{i % 2}", content=f"news {i}", community="makers",
                 created_at=1000.0 + i)
        for i in range(5)
    ]  # fmt: skip
    await fold(registry, agent_event(FeedPosted(posts=posts), 1))
    entries = registry.board.entries(1, "c/makers")
    assert [entry[0] for entry in entries] == ["post-2", "post-3", "post-4"], "the latest 3 (its size)"
    _, shown = registry.board.feed(1, "makers", "agent-0", "request-1", posts=3, broadcasts=2)
    assert [entry[0] for entry in shown] == ["post-3"], "its own posts are not shown to the author"
    _, two = registry.board.feed(1, "makers", "agent-9", "request-1", posts=2, broadcasts=2)
    assert len(two) == 2 and two == registry.board.feed(1, "makers", "agent-9", "request-1", 2, 2)[1]
    assert registry.board.entries(0, "c/makers") == [], "another partition's board"
