"""The agent-profiles table: packed profiles in faust's store, hot ones (read twice) unpacked in an LRU cache.

Writes go to the store and straight to the table's changelog through the app's producer, one
record per profile: faust's own ``table[key] = value`` goes through its send buffer, many times the
cost per write (BENCHMARKS.md, agent creation). The changelog records are the same ones faust
writes (raw key, raw value, the source event's partition), so faust's recovery restores them, and
faust flushes the producer before every commit, as it does for its own changelog writes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import faust
from faust.types import RecordMetadata

from swarmstream import profile_format
from swarmstream.patches import faust_access
from swarmstream.profile_format import Profile

# Changelog records a flush sends before it lets the event loop run the rest.
FLUSH_SLICE = 256


class ProfileStore:
    def __init__(self, table: faust.Table, cache_size: int):
        self.table = table
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Profile] = OrderedDict()
        # Agents read once since this was last emptied: a profile is cached on its second miss. With
        # speakers drawn from a million agents most are read once in a long while; caching each kept a
        # dozen young containers per read alive just long enough for the garbage collector to walk them
        # in long pauses while the cache filled, for few hits (BENCHMARKS.md, the 1M demo).
        self._seen_once: set[str] = set()
        self.hits = 0
        self.misses = 0
        # Keys written by put_soon whose changelog record is not sent yet, with their partition.
        self._unsent: dict[bytes, int] = {}

    def __len__(self) -> int:
        data = self.table.data
        dbs = faust_access.rocksdb_databases(data)  # faust's RocksDB store: one database per partition
        if dbs is None:
            return len(data)
        # Counting RocksDB keys means reading them all; its own estimate is what a scrape can afford.
        return sum(db.property_int_value("rocksdb.estimate-num-keys") or 0 for db in dbs.values())

    def __contains__(self, agent_id: str) -> bool:
        """Whether the agent has a profile here; nothing is unpacked or counted as a lookup."""
        return agent_id in self._cache or agent_id.encode() in self.table.data

    @property
    def cached(self) -> int:
        return len(self._cache)

    def get(self, agent_id: str) -> Profile | None:
        """The profile, unpacked once and then served from the cache while it stays hot."""
        cache = self._cache
        profile = cache.get(agent_id)
        if profile is not None:
            self.hits += 1
            cache.move_to_end(agent_id)
            return profile
        self.misses += 1
        data = self.table.data.get(agent_id.encode())
        if data is None:
            return None
        profile = profile_format.unpack(agent_id, data)
        seen = self._seen_once
        if agent_id in seen:
            seen.discard(agent_id)
            self._keep(agent_id, profile)
        elif self.cache_size:
            if len(seen) >= self.cache_size:
                seen.clear()
            seen.add(agent_id)
        return profile

    def peek(self, agent_id: str) -> Profile | None:
        """The stored profile, not counted as a lookup and not cached (registry writes)."""
        profile = self._cache.get(agent_id)
        if profile is not None:
            return profile
        data = self.table.data.get(agent_id.encode())
        return profile_format.unpack(agent_id, data) if data is not None else None

    async def put(self, profile: Profile, partition: int) -> asyncio.Future[RecordMetadata]:
        """Store ``profile``; the future completes when its changelog record is on the broker."""
        key, value = self._store(profile)
        return await self._changelog(key, value, partition)

    async def put_many(self, profiles: list[Profile], partition: int) -> asyncio.Future[object]:
        """Store ``profiles`` (a slice of a bulk creation's, of one partition) at once, with no pause between
        the caller's reads and these writes; the future completes when their changelog records, sent in whole
        batches, are on the broker."""
        written = [self._store(profile) for profile in profiles]
        topic = self.table.changelog_topic.get_topic_name()
        deliveries = await faust_access.send_records(self.table.app, topic, partition, written)
        if deliveries is None:  # no aiokafka producer under faust's (an in-memory worker): one send each
            deliveries = [await self._changelog(key, value, partition) for key, value in written]
        return asyncio.gather(*deliveries)

    def put_soon(self, profile: Profile, partition: int) -> None:
        """Store ``profile`` now; its changelog record goes out with the next :meth:`flush`.

        For writes that may be lost in a crash (an agent's memory of its replies): one record per
        agent per flush instead of one per write, which would fill the changelog with batches.
        """
        key, _ = self._store(profile)
        self._unsent[key] = partition

    async def flush(self) -> None:
        """Send the changelog records :meth:`put_soon` deferred: each agent's latest profile, once."""
        unsent, self._unsent = self._unsent, {}
        data = self.table.data
        for sent, (key, partition) in enumerate(unsent.items(), 1):
            value = data.get(key)
            if value is not None:  # deleted since: its tombstone is already on the changelog
                await self._changelog(key, value, partition)
            if not sent % FLUSH_SLICE:
                # A send seldom waits, so a flush of a thousand agents would hold the loop in one go.
                # Each record carries the profile as it is when sent: a write during the pause is sent
                # by this flush or the next, never overtaken by an older copy.
                await asyncio.sleep(0)

    async def delete(self, agent_id: str, partition: int) -> asyncio.Future[RecordMetadata]:
        key = agent_id.encode()
        self.table.data.pop(key, None)
        self._cache.pop(agent_id, None)
        # A null value is the changelog's tombstone: recovery deletes the key.
        return await self._changelog(key, None, partition)

    def forget_cache(self) -> None:
        """After a rebalance the store may have been restored: cached copies could be stale."""
        self._cache.clear()
        self._seen_once.clear()

    def _store(self, profile: Profile) -> tuple[bytes, bytes]:
        """Write the packed profile and refresh its cached copy; returns the key and value written."""
        agent_id = profile["agent_id"]
        key, value = agent_id.encode(), profile_format.pack(profile)
        self.table.data[key] = value
        if agent_id in self._cache:
            self._cache[agent_id] = profile
        return key, value

    def _keep(self, agent_id: str, profile: Profile) -> None:
        cache = self._cache
        cache[agent_id] = profile
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    async def _changelog(self, key: bytes, value: bytes | None, partition: int) -> asyncio.Future[RecordMetadata]:
        return await send_changelog(self.table, key, value, partition)


async def send_changelog(
    table: faust.Table, key: bytes, value: bytes | None, partition: int
) -> asyncio.Future[RecordMetadata]:
    """The record faust's ``table[key] = value`` would write to ``table``'s changelog (None: a tombstone)."""
    return await table.app.producer.send(table.changelog_topic.get_topic_name(), key, value, partition, None, None)
