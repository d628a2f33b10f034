"""Graph-consumer replicas: SQLite serves one, and refuses a second with a clear error."""

from __future__ import annotations

import asyncio

import pytest

from consumers.graph import GraphConsumer, OneReplicaStore

pytestmark = pytest.mark.integration


async def test_a_second_replica_on_sqlite_is_refused_and_the_first_goes_on(settings, tmp_path):
    first = GraphConsumer(settings.model_copy(update={"graph_db_path": str(tmp_path / "a.sqlite3")}))
    stop, ready = asyncio.Event(), asyncio.Event()
    running = asyncio.create_task(first.run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 60)
        second = GraphConsumer(settings.model_copy(update={"graph_db_path": str(tmp_path / "b.sqlite3")}))
        # The group rebalances to give it half: the replica that held them all goes on, the second is refused.
        with pytest.raises(OneReplicaStore, match=r"got 2 of 4 partitions.*serves one replica only.*GRAPH_DSN"):
            await asyncio.wait_for(second.run(asyncio.Event()), 90)
        second.store.close()
        await asyncio.sleep(1)
        assert not running.done(), "the first replica goes on"
    finally:
        stop.set()
        await asyncio.wait_for(running, 30)
        first.store.close()
