"""What the post pool holds at a million agents: a ``PostPool`` filled as round 3 of a 1M-agent run leaves it.

    .venv/bin/python scripts/bench_post_pool.py PARTITIONS   # e.g. 1, or 12 (one worker holding every partition)

46,000 posts a round for 3 rounds (``FEED_POOL_ROUNDS`` 2 and the round being played) and 40,000 engagements a
round, as ``simulate --agents 1000000 --active 0.1 --feed hot`` makes them; each partition decodes its own copy,
as the worker does. Prints the entries and the memory they hold (``tracemalloc``). BENCHMARKS.md, "At a
million agents".
"""

from __future__ import annotations

import asyncio
import random
import sys
import tracemalloc
import uuid

import msgpack

import streams.post_pool as post_pool
from swarmstream.events import Engagement, FeedPost
from swarmstream.llm.simulator import _WORDS

WORDS = _WORDS[:12]  # the simulator's vocabulary: what its posts are made of


class Table:
    """The faust table's data, as the pool uses it."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}


async def no_changelog(table: object, key: bytes, value: bytes | None, partition: int) -> None:
    return None


async def main(partitions: int, posts_per_round: int = 46_000, rounds: int = 3) -> None:
    post_pool.send_changelog = no_changelog  # type: ignore[assignment]  # what is held, not what is sent
    pool = post_pool.PostPool(Table(), rounds=2, size=1000, chars=200)  # type: ignore[arg-type]
    rng = random.Random(1)
    ids: list[str] = []
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for round_ in range(1, rounds + 1):
        posts = []
        for _ in range(posts_per_round):
            post_id = uuid.UUID(int=rng.getrandbits(128)).hex
            ids.append(post_id)
            kind = rng.choice(["post"] * 5 + ["repost", "quote", "comment"])
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."
            chain = {} if kind == "post" else {"parent_id": rng.choice(ids), "origin_id": rng.choice(ids), "depth": 1}
            posts.append({"post_id": post_id, "from_agent_id": f"agent-{rng.randrange(10**6):07d}", "content": text,
                          "kind": kind, "community": rng.choice(WORDS[:8]), "round": round_, **chain})  # fmt: skip
        engaged = [
            {"key": uuid.UUID(int=rng.getrandbits(128)).hex, "post_id": rng.choice(ids[-2 * posts_per_round :]),
             "agent_id": "agent-0000001", "kind": rng.choice(["like"] * 4 + ["dislike", "repost"]), "round": round_}
            for _ in range(40_000)
        ]  # fmt: skip
        packed_posts, packed_engaged = msgpack.packb(posts), msgpack.packb(engaged)
        for partition in range(partitions):
            await pool.add(partition, [FeedPost(**post) for post in msgpack.unpackb(packed_posts)])
            await pool.engage(partition, [Engagement(**made) for made in msgpack.unpackb(packed_engaged)])
        del posts, engaged
    held = sum(len(pool.posts(partition)) for partition in range(partitions))
    ours = sum(len(post_id) + 49 for post_id in ids) + 8 * len(ids)  # this script's own list of ids
    used = tracemalloc.get_traced_memory()[0] - base - ours
    print(f"{partitions} partitions: {held:,} entries, {used / 1e6:,.1f} MB, {used / held:,.0f} B an entry")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
