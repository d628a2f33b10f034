"""Feed boards: per partition, the latest posts of each community and the broadcasts, in a faust table.

A community's members live on every partition, so a post to it is copied to every partition once
(``feed.posted``) and kept on each partition's board, the latest ``size`` per audience; an acting agent
reads its partition's board. The fan-out is one record per partition and flush, whatever the size of the
community. Keys are ``{partition}/{audience}`` (``*`` for everyone, ``c/{community}``), values packed
lists of ``[post_id, from, text, kind, created_at]`` (and ``round``, for a society run's posts: an act of
that round does not see them yet).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict

import faust
import msgpack
from faust.types import RecordMetadata

from streams.profile_store import send_changelog
from swarmstream.events import FeedPost

Entry = list  # [post_id, from_agent_id, text, kind, created_at(, round)]
EVERYONE = "*"


def audience_of(community: str | None) -> str:
    return EVERYONE if community is None else f"c/{community}"


class FeedBoard:
    def __init__(self, table: faust.Table, size: int, chars: int):
        self.table = table
        self.size = size
        self.chars = chars
        self._cache: dict[bytes, list[Entry]] = {}

    def entries(self, partition: int, audience: str) -> list[Entry]:
        """The board's posts for ``audience`` on ``partition``, oldest first."""
        key = f"{partition}/{audience}".encode()
        entries = self._cache.get(key)
        if entries is None:
            data = self.table.data.get(key)
            entries = msgpack.unpackb(data, raw=False, use_list=True) if data is not None else []
            self._cache[key] = entries
        return entries

    async def add(self, partition: int, posts: list[FeedPost]) -> list[asyncio.Future[RecordMetadata]]:
        """Keep ``posts`` on ``partition``'s board; the futures complete when the changelog has the boards changed."""
        by_audience: dict[str, list[FeedPost]] = defaultdict(list)
        for post in posts:
            by_audience[audience_of(post.community)].append(post)
        deliveries = []
        for audience, new in by_audience.items():
            entries = self.entries(partition, audience)
            known = {entry[0] for entry in entries}
            added = [
                [p.post_id, p.from_agent_id, p.content[: self.chars], p.kind, p.created_at]
                + ([] if p.round is None else [p.round])
                for p in new
                if p.post_id not in known
            ]
            if not added:
                continue  # a replay: already kept (or already pushed off the board)
            kept = sorted([*entries, *added], key=_age)[-self.size :]
            key = f"{partition}/{audience}".encode()
            value = msgpack.packb(kept, use_bin_type=True)
            self.table.data[key] = value
            self._cache[key] = kept
            deliveries.append(await send_changelog(self.table, key, value, partition))
        return deliveries

    def feed(
        self,
        partition: int,
        community: str | None,
        reader: str,
        seed: str,
        posts: int,
        broadcasts: int,
        round_: int | None = None,
    ) -> tuple[list[Entry], list[Entry]]:
        """What ``reader`` is shown: the latest ``broadcasts`` for it, and ``posts`` of its community's, sampled.

        The sample is seeded by ``seed`` (the request's): the same request is shown the same posts. An act of
        society round ``round_`` is not shown that round's posts: the board as the round began.
        """
        shown_broadcasts = [e for e in self.entries(partition, EVERYONE) if e[3] == "broadcast"]
        community_entries: list[Entry] = []
        if community is not None:
            community_entries = self.entries(partition, audience_of(community))
            shown_broadcasts += [e for e in community_entries if e[3] == "broadcast"]
        shown_broadcasts = sorted(shown_broadcasts, key=lambda entry: entry[4])[-broadcasts:] if broadcasts else []
        candidates = [
            e for e in community_entries
            if e[3] == "post" and e[1] != reader and (round_ is None or len(e) < 6 or e[5] < round_)
        ]  # fmt: skip
        if len(candidates) > posts:
            candidates = sorted(candidates, key=lambda e: _rank(seed, e))[:posts]
        return shown_broadcasts, candidates

    def forget_cache(self) -> None:
        """After a rebalance the boards may have been restored from the changelog."""
        self._cache.clear()


def _age(entry: Entry) -> tuple:
    """Oldest first: by round (a run's posts), then time, then author: ties fall alike whatever the order."""
    return (entry[5] if len(entry) > 5 else 0, entry[4], entry[1], entry[0])


def _rank(seed: str, entry: Entry) -> bytes:
    """A post's place in a sample: from the seed and what it is (its author and text), not its id (which names
    the run it was made in), so that runs with one seed sample alike."""
    return hashlib.blake2b(f"{seed}/{entry[1]}/{entry[2]}".encode(), digest_size=8).digest()
