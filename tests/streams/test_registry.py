"""The registry on the in-memory worker: agent events folded into profiles and boards, misplaced ones forwarded."""

from __future__ import annotations

import asyncio

import msgpack

from producers.personas import persona_batches, personas
from swarmstream import codec
from swarmstream.codec import FORWARDED_HEADER
from swarmstream.events import (
    AgentDeleted,
    AgentMessage,
    AgentsCreated,
    AgentsMessaged,
    AgentUpdated,
    Broadcast,
    FeedPost,
    FeedPosted,
)
from swarmstream.partitions import partition_for
from tests.memory_worker import MemoryWorker

GRACE_S = 0.2
PARTITIONS = 4


def worker() -> MemoryWorker:
    return MemoryWorker(partitions=PARTITIONS, feed_board_size=3, agent_inbox_chars=50, profile_cache_size=100)


async def fold(memory: MemoryWorker, change) -> None:
    """One agent event read, as the registry's loop reads it, and no other work done."""
    (record,) = memory.publish(change)
    await memory.take(record)


async def test_a_waiter_gets_its_profile_when_its_agent_arrives():
    memory = MemoryWorker(partitions=1)  # every agent on partition 0
    registry = memory.registry
    first, second = personas(2, seed=1)
    waiting = asyncio.create_task(registry.wait_for(second.agent_id, 0, GRACE_S, 5))
    await asyncio.sleep(0)
    await fold(memory, first)
    await asyncio.sleep(0)
    assert not waiting.done(), "another agent's creation does not answer it"
    await fold(memory, second)
    profile = await asyncio.wait_for(waiting, 1)
    assert profile is not None and profile["name"] == second.name
    assert registry._waiters == {}


async def test_an_idle_partition_ends_the_wait_with_none():
    registry = MemoryWorker(partitions=1).registry
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await registry.wait_for("agent-404", 3, GRACE_S, 5) is None
    assert GRACE_S <= loop.time() - started < 1
    assert registry._waiters == {}


async def test_progress_on_the_partition_keeps_it_waiting_up_to_the_limit():
    memory = MemoryWorker(partitions=1)
    registry = memory.registry
    loop = asyncio.get_running_loop()
    started = loop.time()
    others = list(personas(12, seed=2))
    late = others.pop()
    waiting = asyncio.create_task(registry.wait_for(late.agent_id, 0, GRACE_S, 5))
    for creation in others:  # 11 other agents, one every half grace: 0.55 s in all
        await asyncio.sleep(GRACE_S / 2)
        await fold(memory, creation)
    assert not waiting.done()
    await fold(memory, late)
    assert await asyncio.wait_for(waiting, 1) is not None
    assert loop.time() - started > 2 * GRACE_S

    limited = await registry.wait_for("agent-404", 0, GRACE_S, max_wait_s=0.1)
    assert limited is None


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
    memory = worker()
    batches = list(persona_batches(40, seed=3, partitions=PARTITIONS, batch_size=8))
    memory.publish(*batches)
    await memory.run()

    assert len(memory.registry.store) == 40
    changelog = memory.sent_to(memory.settings.profiles_changelog_topic)
    assert len(changelog) == 40
    for record in changelog:
        assert record.partition == partition_for(record.key.decode(), PARTITIONS), "the agent's requests' partition"
    profile = memory.profile("agent-0000007")
    expected = next(spec for batch in batches for spec in batch.agents if spec.agent_id == "agent-0000007")
    assert profile is not None and profile["name"] == expected.name and profile["friends"] == ()
    assert memory.registry.changes["created"] == 40 and memory.unacked() == []


async def test_replaying_the_same_events_leaves_the_table_and_changelog_identical():
    memory = worker()
    changes = society_changes()
    records = memory.publish(*changes)
    await memory.run()
    table_once = dict(memory.profiles.data)
    changelog = memory.settings.profiles_changelog_topic
    changelog_once = memory.topics.last_values(changelog)

    for record in records:
        memory.redeliver(record)
    await memory.run()

    assert memory.profiles.data == table_once
    assert memory.topics.last_values(changelog) == changelog_once
    assert memory.profile("agent-0000044") is None
    assert changelog_once[b"agent-0000044"] is None, "a deletion writes a tombstone"
    updated = memory.profile("agent-0000001")
    assert updated is not None and updated["friends"] == ("agent-0000002",) and updated["community"] == "readers"
    assert memory.dead_letters() == []


async def test_agents_on_the_wrong_partition_are_forwarded_to_their_own_once_and_created_there():
    memory = worker()
    (batch,) = persona_batches(6, seed=4, partitions=1, batch_size=10)  # one partition: mixed for 4
    home = partition_for(batch.agents[0].agent_id, PARTITIONS)
    strays = [spec for spec in batch.agents if partition_for(spec.agent_id, PARTITIONS) != home]
    assert len({partition_for(spec.agent_id, PARTITIONS) for spec in strays}) >= 2, "the seed spreads them"
    memory.publish(batch, partition=home)
    await memory.run()
    assert len(memory.registry.store) == len(batch.agents), "its own partition's agents here, the others at home"

    forwarded = memory.sent_to(memory.settings.agents_topic)
    parts = [codec.decode(record.value, AgentsCreated) for record in forwarded]
    assert sorted(spec.agent_id for part in parts for spec in part.agents) == sorted(s.agent_id for s in strays)
    for record, part in zip(forwarded, parts, strict=True):
        assert {partition_for(spec.agent_id, PARTITIONS) for spec in part.agents} == {record.partition}
        assert record.key == part.key and part.request_id == batch.request_id
    replay = worker()
    replay.publish(batch, partition=home)
    await replay.run()
    sent_again = [record.value for record in replay.sent_to(replay.settings.agents_topic)]
    assert sent_again == [record.value for record in forwarded], "a replay sends the same"
    assert memory.registry.outcomes["forwarded"] == len(parts) and memory.dead_letters() == []


async def test_a_forwarded_bulk_creation_still_misplaced_dead_letters_each_partitions_strays_alone():
    memory = worker()
    (batch,) = persona_batches(6, seed=4, partitions=1, batch_size=10)
    home = partition_for(batch.agents[0].agent_id, PARTITIONS)
    memory.publish(batch, partition=home, headers=[(FORWARDED_HEADER, b"0:9:0")])
    await memory.run()
    letters = memory.dead_letters()
    assert {letter.reason for letter in letters} == {"wrong_partition"}
    strays = sorted(s.agent_id for s in batch.agents if partition_for(s.agent_id, PARTITIONS) != home)
    held = [codec.decode(letter.source_value, AgentsCreated) for letter in letters]
    assert sorted(spec.agent_id for part in held for spec in part.agents) == strays, "a replay sends only them"
    assert all(part.agents and len({partition_for(s.agent_id, PARTITIONS) for s in part.agents}) == 1 for part in held)
    assert len(memory.registry.store) == len(batch.agents) - len(strays)


async def test_a_single_agent_event_is_forwarded_as_it_is_and_a_second_misrouting_is_a_dead_letter():
    memory = worker()
    (spec,) = personas(1, seed=5)
    home = partition_for(spec.agent_id, PARTITIONS)
    wrong = (home + 1) % PARTITIONS
    (published,) = memory.publish(spec, partition=wrong)
    await memory.run()
    (forwarded,) = memory.sent_to(memory.settings.agents_topic)
    assert (forwarded.key, forwarded.value, forwarded.partition) == (spec.key, published.value, home)
    assert memory.profile(spec.agent_id) is not None, "created at home"

    again = worker()
    again.publish(spec, partition=wrong, headers=[(FORWARDED_HEADER, f"{wrong}:0:0".encode())])
    await again.run()
    (letter,) = again.dead_letters()
    assert letter.reason == "wrong_partition" and letter.request_id == spec.request_id
    assert again.profile(spec.agent_id) is None


async def test_updates_of_unknown_agents_and_invalid_events_are_dead_lettered_with_their_request_ids():
    memory = worker()
    update = AgentUpdated(agent_id="agent-9999999", name="Nobody")
    memory.publish(update)
    invalid = {**msgpack.unpackb(codec.encode(update)), "name": 7}
    memory.put(memory.settings.agents_topic, msgpack.packb(invalid), key=None, partition=0)
    await memory.run()

    letters = {letter.reason: letter for letter in memory.dead_letters()}
    assert sorted(letters) == ["invalid_fields", "unknown_agent"]
    assert {letter.request_id for letter in letters.values()} == {update.request_id}
    assert letters["invalid_fields"].agent_id == update.agent_id


async def test_messages_reach_their_recipients_inboxes_once_and_others_are_forwarded():
    memory = worker()
    society = list(personas(8, seed=6))
    memory.publish(*society)
    home = partition_for(society[0].agent_id, PARTITIONS)
    here = [p.agent_id for p in society if partition_for(p.agent_id, PARTITIONS) == home]
    there = [p.agent_id for p in society if partition_for(p.agent_id, PARTITIONS) != home]
    assert there, "the seed spreads them"
    said = [AgentMessage(agent_id=agent, message_id=f"m-{agent}", from_agent_id="x", content="hi")
            for agent in [*here, *there, "nobody-1"]]  # fmt: skip
    batch = AgentsMessaged(messages=said)
    (record,) = memory.publish(batch, partition=home)
    memory.redeliver(record)  # delivered twice: kept once
    await memory.run()
    for agent in [*here, *there]:
        assert memory.profile(agent)["inbox"] == ((f"m-{agent}", "x", "hi", "said"),)  # type: ignore[index]
    forwarded = [codec.decode(r.value, AgentsMessaged) for r in memory.sent_to(memory.settings.agents_topic)]
    assert {m.agent_id for part in forwarded for m in part.messages} == {*there, "nobody-1"} - set(here)
    assert memory.registry.changes["message_dropped"] >= 1, "no such agent: dropped"
    assert memory.dead_letters() == []


async def test_a_broadcast_is_copied_to_every_partition_and_each_copy_kept_on_the_board_it_is_read_on():
    memory = worker()
    broadcast = Broadcast(content="The library opens tonight.", community="readers")
    memory.publish(broadcast, partition=2)
    memory.publish(broadcast, partition=0)  # the same broadcast again: the same copies
    await memory.run()
    copies = [(codec.decode(r.value, FeedPosted), r.partition) for r in memory.sent_to(memory.settings.agents_topic)]
    assert sorted(p for _, p in copies) == sorted([*range(PARTITIONS)] * 2), "one copy per partition, each time"
    assert {copy.posts[0].post_id for copy, _ in copies} == {broadcast.event_id}
    assert len({copy.event_id for copy, _ in copies}) == PARTITIONS, "the second time, the same event ids"
    board = memory.registry.board
    for partition in range(PARTITIONS):
        broadcasts = board.broadcasts(partition, "readers", 2)
        assert [entry[0] for entry in broadcasts] == [broadcast.event_id], "each copy kept once"
        assert board.broadcasts(partition, "cooks", 2) == [], "another community's"
    boards = memory.topics.last_values(memory.settings.feeds_changelog_topic)
    # The boards, and each partition's pool (where what a broadcast draws is counted).
    assert set(boards) == {f"{p}/{where}".encode() for p in range(PARTITIONS)
                           for where in ("c/readers", f"p/{broadcast.event_id}")}  # fmt: skip


async def test_the_pool_keeps_every_post_of_its_rounds_by_author_and_community_and_sweeps_older_rounds():
    memory = worker()
    posts = [
        FeedPost(post_id=f"post-{i}", from_agent_id=f"agent-{i % 2}", content=f"news {i}", community="makers",
                 created_at=1000.0 + i, round=1 + i // 2)
        for i in range(6)
    ]  # fmt: skip
    memory.publish(FeedPosted(posts=posts[:4]), partition=1)
    await memory.run()
    pool = memory.registry.pool
    assert [entry[0] for entry in pool.by(1, "agent-0", round_=3)] == ["post-0", "post-2"], "rounds 1 and 2"
    assert [entry[0] for entry in pool.by(1, "agent-0", round_=2)] == ["post-0"], "not its own round's"
    assert [entry[0] for entry in pool.of_community(1, "makers", 3, top=3)] == ["post-3", "post-2", "post-1"]
    assert pool.posts(0) == {}, "another partition's pool"
    memory.publish(FeedPosted(posts=posts[4:]), partition=1)  # round 3's posts: its acts still read round 1
    await memory.run()
    assert len(pool.posts(1)) == 6
    later = FeedPost(post_id="post-6", from_agent_id="agent-0", content="news 6", community="makers", round=4)
    memory.publish(FeedPosted(posts=[later]), partition=1)  # round 4's: round 1 is no act's any more
    await memory.run()
    assert sorted(pool.posts(1)) == ["post-2", "post-3", "post-4", "post-5", "post-6"]
    kept = memory.topics.last_values(memory.settings.feeds_changelog_topic)
    assert kept[b"1/p/post-0"] is None and kept[b"1/p/post-2"] is not None, "a tombstone for each post swept"


async def test_a_rank_shorter_than_asked_is_made_once_a_round_not_at_every_act():
    memory = worker()
    post = FeedPost(post_id="p1", from_agent_id="a", content="x", community="makers", round=1)
    memory.publish(FeedPosted(posts=[post]), partition=1)
    await memory.run()
    pool = memory.registry.pool
    made = pool.posts(1)
    assert [entry[0] for entry in pool.of_community(1, "makers", 2, top=50)] == ["p1"]
    assert pool.trending(1, 2, top=5) == [], "nothing drew anything"
    made.clear()  # were the pool read again, the rankings would now be empty
    assert [entry[0] for entry in pool.of_community(1, "makers", 2, top=50)] == ["p1"], "ranked once this round"
