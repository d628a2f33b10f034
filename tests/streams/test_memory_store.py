"""The memory store restored in bulk: each changelog partition read to its end, kept ones caught up."""

from __future__ import annotations

import pytest
from faust.types import TP

from streams.app import create_app
from streams.memory_store import RestoredMemoryStore
from swarmstream.transport import ensure_topics, make_producer

pytestmark = pytest.mark.integration


async def test_a_table_is_restored_from_its_changelog_and_faust_reads_only_what_follows(settings, monkeypatch):
    await ensure_topics(settings)
    topic = settings.profiles_changelog_topic
    await produce(
        settings,
        topic,
        [
            (0, b"agent-a", b"first"),
            (0, b"agent-b", b"kept"),
            (0, b"agent-a", b"second"),  # the last value wins
            (1, b"agent-c", b"gone soon"),
            (1, b"agent-c", None),  # a tombstone deletes
            (1, b"agent-d", b"kept too"),
        ],
    )

    app = create_app(settings).app
    store = app.tables[settings.profiles_table].data
    assert isinstance(store, RestoredMemoryStore)
    changelog = {TP(topic, p) for p in range(settings.partitions)}
    monkeypatch.setattr(app.assignor, "assigned_actives", lambda: changelog)
    await store.on_rebalance(changelog, set(), changelog)

    assert dict(store.data) == {b"agent-a": b"second", b"agent-b": b"kept", b"agent-d": b"kept too"}
    # faust's recovery starts after these (it seeks to the persisted offset), an empty partition at -1.
    assert [store.persisted_offset(TP(topic, p)) for p in range(settings.partitions)] == [2, 2, -1, -1]

    # What this worker wrote since (its own changelog records) is read at the next rebalance from where
    # the last read ended; a revoked partition forgets where it was and is read again if it comes back.
    await produce(settings, topic, [(0, b"agent-b", b"changed"), (2, b"agent-e", b"new")])
    store.data[b"agent-b"] = b"stale in memory"
    revoked = {TP(topic, 1)}
    await store.on_rebalance(changelog - revoked, revoked, set())
    assert store.data[b"agent-b"] == b"changed" and store.data[b"agent-e"] == b"new"
    assert store.data[b"agent-a"] == b"second", "records before the last read are not applied again"
    assert [store.persisted_offset(TP(topic, p)) for p in range(settings.partitions)] == [3, None, 0, -1]


async def produce(settings, topic: str, records: list[tuple[int, bytes, bytes | None]]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        for partition, key, value in records:
            await producer.send(topic, value, key=key, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()
