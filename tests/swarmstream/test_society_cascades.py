"""A society of 10,000 agents over 5 rounds with every action: cascades in its record, and the likes the workers
counted on their posts equal to the likes the record holds."""

from __future__ import annotations

from contextlib import aclosing

import msgpack
import pytest

from streams.post_pool import counts
from swarmstream import AsyncAgentManager, AsyncConfig
from swarmstream.settings import Settings
from swarmstream.transport import read_to_end

pytestmark = pytest.mark.integration


@pytest.mark.timeout(600)
async def test_a_five_round_society_spreads_cascades_and_counts_every_like_once(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"), partitions=4, llm_structured_outputs="json_schema")
    config = AsyncConfig(settings=settings, simulator_latency_ms=5, seed=7)
    async with AsyncAgentManager(config) as manager:  # the embedded broker, simulator and a worker
        await manager.create_agents_async(count=10_000)
        async with aclosing(manager.simulate(rounds=5, active=0.1, turns=2, feed="recent")) as rounds:
            summaries = [summary async for summary in rounds]
        run = manager.last_run
        # Every partition's pool, as its changelog keeps it (a key per post; swept ones are tombstones).
        pools: dict[bytes, bytes | None] = {}
        async for batch in read_to_end(manager.settings, [manager.settings.feeds_changelog_topic]):
            pools.update((record.key, record.value) for record in batch)
    assert run is not None and run.ended == "done" and len(summaries) == 5
    assert sum(summary.malformed_actions for summary in summaries) == 0, "a JSON schema: no malformed act"

    tables = run.tables()
    cascades, posts = tables["cascades"], tables["posts"].set_index("post_id")
    assert cascades["depth"].max() >= 3, cascades.head()
    assert (cascades["last_round"] - cascades["first_round"]).max() >= 3, "reposted across several rounds"
    likes = posts["likes"]
    assert likes.max() >= 10 * max(likes.median(), 1), "heavy-tailed: a few posts draw most likes"

    pooled: dict[str, set[int]] = {}
    for key, value in pools.items():
        parts = key.decode().split("/", 2)  # {partition}/p/{post id}; a board's: {partition}/{audience}
        if len(parts) == 3 and parts[1] == "p" and value is not None:
            pooled.setdefault(parts[2], set()).add(counts(msgpack.unpackb(value, raw=False, strict_map_key=False))[0])
    kept = [post for post in pooled if post in posts.index]
    assert len(kept) > 100, "the last rounds' posts are in the pools"
    assert all(len(pooled[post]) == 1 for post in kept), "every partition counted the same"
    assert {post: pooled[post].pop() for post in kept} == {post: int(likes[post]) for post in kept}
    assert sum(int(likes[post]) for post in kept) > 100
