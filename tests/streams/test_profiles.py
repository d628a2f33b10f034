"""Packed profiles and the set-not-increment rules that make replays harmless."""

from __future__ import annotations

import asyncio

import msgpack
import pytest

from producers.personas import persona
from streams import profiles
from streams.profile_store import FLUSH_SLICE, ProfileStore
from swarmstream import profile_format
from swarmstream.events import AgentCreated, AgentMessage, AgentUpdated
from tests.memory_worker import MemoryTable


def test_pack_round_trips_and_does_not_repeat_field_names():
    profile = profiles.created(persona(1, seed=7))
    data = profile_format.pack(profile)
    assert profile_format.unpack(profile["agent_id"], data) == profile
    assert b"persona" not in data and profile["agent_id"].encode() not in data


def test_an_unknown_layout_is_refused_with_the_agent_named():
    data = profile_format.pack(profiles.created(persona(1, seed=7)))
    with pytest.raises(ValueError, match=r"agent-x.*layout 9"):
        # The array's header (array 16: its marker and length, three bytes), then the layout.
        profile_format.unpack("agent-x", data[:3] + b"\x09" + data[4:])


def test_a_layout_1_profile_reads_with_an_empty_inbox():
    profile = profiles.created(persona(1, seed=7))
    old = msgpack.packb([1, *(profile[f] for f in ("name", "persona", "traits", "interests", "community",
                                                     "friends", "memory"))])  # fmt: skip
    assert profile_format.unpack(profile["agent_id"], old) == profile and profile["inbox"] == ()


def test_inbox_messages_are_kept_once_each_newest_last_and_bounded():
    profile = profiles.created(persona(1, seed=7))
    said = [AgentMessage(agent_id=profile["agent_id"], message_id=f"m{i}", from_agent_id="b", content=f"hi {i}" * 50)
            for i in range(4)]  # fmt: skip
    first = profiles.deliver(profile, said[:2], size=3, chars=10)
    assert first is not None and [entry[0] for entry in first["inbox"]] == ["m0", "m1"]
    assert first["inbox"][0] == ("m0", "b", ("hi 0" * 50)[:10], "said")
    assert profiles.deliver(first, said[:2], size=3, chars=10) is None, "delivered twice, kept once"
    later = profiles.deliver(first, said[1:], size=3, chars=10)
    assert later is not None and [entry[0] for entry in later["inbox"]] == ["m1", "m2", "m3"]
    assert profile_format.unpack(profile["agent_id"], profile_format.pack(later)) == later


def test_a_replayed_creation_keeps_friends_and_memory():
    creation = persona(1, seed=7)
    befriended = profiles.apply(profiles.created(creation), AgentUpdated(agent_id=creation.agent_id, add_friends=["b"]))
    assert befriended is not None
    remembered = profiles.remember(befriended, "r1", "hello", size=3)
    assert remembered is not None
    again = profiles.apply(remembered, creation)
    assert again == remembered


def test_friends_are_a_set_without_the_agent_itself():
    profile = profiles.created(persona(1, seed=7))
    me = profile["agent_id"]
    update = AgentUpdated(agent_id=me, add_friends=["c", "a", me, "a"], remove_friends=["x"])
    once = profiles.apply(profile, update)
    assert once is not None and once["friends"] == ("a", "c")
    assert profiles.apply(once, update) == once


def test_follows_are_one_way_a_set_without_the_agent_itself_and_kept_by_a_replayed_creation():
    creation = persona(1, seed=7)
    profile = profiles.created(creation)
    me = profile["agent_id"]
    followed = profiles.apply(profile, AgentUpdated(agent_id=me, add_follows=["b", me, "a", "b"]))
    assert followed is not None and followed["follows"] == ("a", "b") and followed["friends"] == ()
    unfollowed = profiles.apply(followed, AgentUpdated(agent_id=me, remove_follows=["a"]))
    assert unfollowed is not None and unfollowed["follows"] == ("b",)
    assert profiles.apply(unfollowed, creation)["follows"] == ("b",)  # type: ignore[index]
    assert profile_format.unpack(me, profile_format.pack(unfollowed)) == unfollowed


def test_memory_is_bounded_and_remembers_a_request_once():
    profile = profiles.created(persona(1, seed=7))
    for n in range(5):
        updated = profiles.remember(profile, f"r{n}", f"line {n}", size=3)
        assert updated is not None
        profile = updated
    assert profile["memory"] == (("r2", "line 2"), ("r3", "line 3"), ("r4", "line 4"))
    assert profiles.remember(profile, "r4", "line 4 again", size=3) is None


async def test_the_cache_takes_profiles_read_twice_keeps_the_most_recently_used_and_counts_hits():
    store = ProfileStore(MemoryTable(), cache_size=2)
    for index in range(3):
        await store.put(profiles.created(persona(index, seed=7)), partition=0)
    assert store.cached == 0, "writes do not fill the cache"
    a, b, c = (f"agent-000000{index}" for index in range(3))
    for agent_id in (a, b):
        assert store.get(agent_id) is not None
    assert store.cached == 0, "a profile read once is not cached"
    for agent_id in (a, b, a):
        assert store.get(agent_id) is not None
    assert (store.hits, store.misses, store.cached) == (1, 4, 2)
    store.get(c)
    store.get(c)  # its second read: cached, and b, the least recently used, goes
    assert store.get(a) is not None and (store.hits, store.misses) == (2, 6)
    assert store.get(b) is not None and store.misses == 7
    assert store.get("agent-0000404") is None and store.misses == 8


async def test_agents_read_once_are_remembered_only_up_to_the_cache_size():
    store = ProfileStore(MemoryTable(), cache_size=2)
    for index in range(3):
        await store.put(profiles.created(persona(index, seed=7)), partition=0)
    a, b, c = (f"agent-000000{index}" for index in range(3))
    for agent_id in (a, b, c):  # the third read once empties what the first two left
        store.get(agent_id)
    store.get(a)
    assert store.cached == 0, "a was forgotten: this is its first read again"
    store.get(c)
    assert store.cached == 1, "c was remembered: its second read caches it"


async def test_a_write_replaces_the_cached_copy():
    store = ProfileStore(MemoryTable(), cache_size=10)
    profile = profiles.created(persona(1, seed=7))
    await store.put(profile, partition=0)
    assert store.get(profile["agent_id"]) == profile
    renamed = {**profile, "name": "Renamed"}
    await store.put(renamed, partition=0)
    assert store.get(profile["agent_id"]) == renamed
    await store.delete(profile["agent_id"], partition=0)
    assert store.get(profile["agent_id"]) is None


async def test_deferred_writes_are_read_at_once_and_sent_once_per_agent_at_the_flush():
    table = MemoryTable()
    producer = table.app.producer
    store = ProfileStore(table, cache_size=10)
    profile = profiles.created(persona(1, seed=7))
    await store.put(profile, partition=2)
    for n in range(3):
        updated = profiles.remember(store.peek(profile["agent_id"]), f"r{n}", f"line {n}", size=3)
        assert updated is not None
        store.put_soon(updated, partition=2)
    assert len(store.peek(profile["agent_id"])["memory"]) == 3
    assert len(producer.sent) == 1, "nothing sent before the flush"

    await store.flush()
    assert len(producer.sent) == 2
    last = producer.sent[-1]
    key, value, partition = last.key, last.value, last.partition
    assert partition == 2 and profile_format.unpack(key.decode(), value)["memory"][-1] == ("r2", "line 2")
    await store.flush()
    assert len(producer.sent) == 2, "a flush sends each deferred write once"


async def test_a_large_flush_lets_the_loop_run_and_sends_every_agent_as_it_is_when_sent():
    table = MemoryTable()
    producer = table.app.producer
    store = ProfileStore(table, cache_size=0)
    agents = [profiles.created(persona(index, seed=9)) for index in range(FLUSH_SLICE * 2 + 10)]
    for profile in agents:
        store.put_soon(profile, partition=1)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1
            if ticks == 1:  # mid-flush: the first agent (sent already) and the last (not yet) speak again
                for profile in (agents[0], agents[-1]):
                    store.put_soon(profiles.remember(profile, "r", "again", size=3), partition=1)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0)
    await store.flush()
    assert ticks >= 2, "the loop ran during the flush"
    sent = {r.key.decode(): profile_format.unpack(r.key.decode(), r.value) for r in producer.sent}
    assert len(producer.sent) == len(agents) and sent.keys() == {p["agent_id"] for p in agents}
    assert sent[agents[-1]["agent_id"]]["memory"], "the last agent went out with its newer memory"
    await store.flush()
    ticker.cancel()
    # The next flush sends both again (the last one's record is the same once more): the first one's newer memory.
    again = {r.key.decode(): profile_format.unpack(r.key.decode(), r.value) for r in producer.sent[len(agents) :]}
    assert again.keys() == {agents[0]["agent_id"], agents[-1]["agent_id"]}
    assert all(profile["memory"] for profile in again.values())


def test_an_imported_agents_activity_model_and_attributes_are_kept_and_updated():
    spec = AgentCreated(
        agent_id="u-17", name="Wei", activity=0.25, activity_hours=[0.5] * 24, model="small",
        attributes={"age": 41, "district": "north", "verified": True},
    )  # fmt: skip
    profile = profiles.created(spec)
    assert profile_format.unpack("u-17", profile_format.pack(profile)) == profile
    assert profile["activity_hours"] == (0.5,) * 24 and profile["attributes"]["age"] == 41
    updated = profiles.apply(profile, AgentUpdated(agent_id="u-17", activity=0.9, attributes={"age": 42}))
    assert updated is not None and (updated["activity"], updated["attributes"], updated["model"]) == (
        0.9,
        {"age": 42},
        "small",
    )


def test_a_layout_2_profile_reads_with_the_defaults_of_what_came_later():
    profile = profiles.created(persona(1, seed=7))
    fields = ("name", "persona", "traits", "interests", "community", "friends", "memory", "inbox")
    old = msgpack.packb([2, *(profile[f] for f in fields)])
    assert profile_format.unpack(profile["agent_id"], old) == profile
    assert (profile["activity"], profile["model"], profile["attributes"]) == (None, None, {})


def test_a_layout_3_profile_reads_with_no_mutes_and_nothing_seen():
    profile = profiles.created(persona(1, seed=7))
    fields = profile_format._FIELDS[:14]
    old = msgpack.packb([3, *(profile[f] for f in fields)])
    assert profile_format.unpack(profile["agent_id"], old) == profile
    assert (profile["muted"], profile["seen"]) == ((), b"")


def test_a_feed_seen_is_kept_as_4_bytes_a_post_and_only_the_latest():
    profile = profiles.created(persona(1, seed=7))
    shown = profiles.saw(profile, ["a" * 32, "b" * 32])
    assert shown is not None and len(shown["seen"]) == 8
    assert profiles.saw(shown, ["a" * 32]) is None, "already seen: unchanged"
    many = profiles.saw(shown, [f"{i:08x}" + "0" * 24 for i in range(100)])
    assert many is not None and len(many["seen"]) == 4 * profiles.SEEN_POSTS
    assert profile_format.seen_mark(f"{99:08x}") in profiles.seen_marks(many)
    assert profile_format.seen_mark("a" * 32) not in profiles.seen_marks(many), "the oldest went first"
