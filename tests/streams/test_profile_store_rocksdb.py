"""The profile store on faust's RocksDB store, the one for real Kafka deployments.

Recovery from the changelog cannot be tested on the embedded broker (Tansu 0.6.0's wrong end
offsets make faust's RocksDB recovery fail with ConsistencyError); reads and writes can.
"""

from __future__ import annotations

import weakref
from types import SimpleNamespace

import faust
import pytest
from faust.streams import _current_event

from producers.personas import persona
from streams import profiles
from streams.profile_store import ProfileStore
from tests.memory_worker import MemoryTable

pytest.importorskip("rocksdict", reason="install the rocksdb extra: pip install -e '.[rocksdb]'")


class _Event:
    """Enough of a faust event for the store: its partition (weakly referenced, as faust does)."""

    def __init__(self, partition: int):
        self.message = SimpleNamespace(partition=partition)


def in_event_of_partition(partition: int) -> _Event:
    """faust's RocksDB store picks the partition's database from the current event."""
    event = _Event(partition)
    _current_event.set(weakref.ref(event))
    return event  # the caller keeps it alive: the context holds a weak reference


async def test_profiles_written_per_partition_are_read_back_and_counted(tmp_path):
    app = faust.App("rocks-test", broker="kafka://127.0.0.1:1", store="rocksdb://", datadir=str(tmp_path), env={})
    table = app.Table("agent-profiles", partitions=4, default=None, key_type=bytes, value_type=bytes)
    memory = MemoryTable()  # faust's RocksDB data, the changelog written in memory
    memory.data = table.data
    producer = memory.app.producer
    store = ProfileStore(memory, 10)

    written = []
    for index in range(20):
        profile = profiles.created(persona(index, seed=7))
        event = in_event_of_partition(index % 4)
        await store.put(profile, partition=index % 4)
        written.append((event, profile))
    for event, profile in written:
        _current_event.set(weakref.ref(event))
        assert store.get(profile["agent_id"]) == profile
    assert len(store) == 20
    assert {record.partition for record in producer.sent} == {0, 1, 2, 3}
    assert list(tmp_path.rglob("*.db")) or list(tmp_path.rglob("CURRENT")), "on disk"
