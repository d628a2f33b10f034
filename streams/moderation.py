"""What moderation took out of the feeds, per partition: removed posts and hidden authors, in a faust table.

A plan's ``remove_post``, ``mute`` and ``ban`` steps are ``moderation`` events, one copy per partition (the
driver publishes them so, like the workers' ``feed.posted``); each partition keeps what it read under the key
``{partition}/moderation`` of the feed boards' table: ``{"posts": [...], "authors": [...]}``, the latest
``LIMIT`` of each. An act's feed leaves them out (``streams/feeds.py``): from the round after the event is
folded, which the driver's round boundary guarantees (it waits for the agents topic to be read to its end).
"""

from __future__ import annotations

import asyncio

import faust
import msgpack
from faust.types import RecordMetadata

from streams.profile_store import send_changelog
from swarmstream.events import Moderation

LIMIT = 100_000  # removed posts, and hidden authors, kept per partition (the latest)


class Moderated:
    """The removed posts and hidden authors of each partition this worker holds."""

    def __init__(self, table: faust.Table):
        self.table = table
        self._cache: dict[int, tuple[set[str], set[str], list[str], list[str]]] = {}

    def _of(self, partition: int) -> tuple[set[str], set[str], list[str], list[str]]:
        cached = self._cache.get(partition)
        if cached is None:
            data = self.table.data.get(self._key(partition))
            held = msgpack.unpackb(data, raw=False) if data is not None else {}
            posts, authors = list(held.get("posts", ())), list(held.get("authors", ()))
            cached = self._cache[partition] = (set(posts), set(authors), posts, authors)
        return cached

    def removed(self, partition: int) -> set[str]:
        return self._of(partition)[0]

    def hidden(self, partition: int) -> set[str]:
        return self._of(partition)[1]

    async def apply(self, partition: int, event: Moderation) -> asyncio.Future[RecordMetadata] | None:
        """Keep what ``event`` removes and hides on ``partition``; None when it changes nothing (a replay)."""
        removed, hidden, posts, authors = self._of(partition)
        new_posts = [post for post in dict.fromkeys(event.remove_posts) if post not in removed]
        new_authors = [author for author in dict.fromkeys(event.hide_authors) if author not in hidden]
        if not new_posts and not new_authors:
            return None
        posts = [*posts, *new_posts][-LIMIT:]
        authors = [*authors, *new_authors][-LIMIT:]
        self._cache[partition] = (set(posts), set(authors), posts, authors)
        value = msgpack.packb({"posts": posts, "authors": authors}, use_bin_type=True)
        key = self._key(partition)
        self.table.data[key] = value
        return await send_changelog(self.table, key, value, partition)

    def forget_cache(self) -> None:
        """After a rebalance the table may have been restored from the changelog."""
        self._cache.clear()

    @staticmethod
    def _key(partition: int) -> bytes:
        return f"{partition}/moderation".encode()
