"""Feed boards: per partition, the latest broadcasts for everyone and for each community, in a faust table.

A broadcast's readers are on every partition, so it is copied to every partition once (``feed.posted``) and
kept on each partition's board, the latest ``size`` per audience; an acting agent reads its partition's
board. Keys are ``{partition}/{audience}`` (``*`` for everyone, ``c/{community}``), values packed lists of
``[post_id, from, text, kind, created_at(, round, window)]``. A run's broadcast shown for some rounds (a
plan's) has a ``window``, ``{"run": run_id, "until": last round}``, from ``round``: it is kept apart from the
latest ``size`` (no other broadcast pushes it off) and shown only to that run's acts of those rounds; the
``PINNED`` latest-ending of them are kept. Agents' posts are kept apart, in the post pool
(``streams/post_pool.py``), in the same table.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

import faust
import msgpack
from faust.types import RecordMetadata

from streams.profile_store import send_changelog
from swarmstream.events import FeedPost

Entry = list  # [post_id, from_agent_id, text, kind, created_at(, round, window)]
EVERYONE = "*"
PINNED = 64  # broadcasts with a window kept per audience (the latest-ending)


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
            if post.kind == "broadcast":  # agents' posts are the pool's
                by_audience[audience_of(post.community)].append(post)
        deliveries = []
        for audience, new in by_audience.items():
            entries = self.entries(partition, audience)
            known = {entry[0] for entry in entries}
            added = [_entry(p, self.chars) for p in new if p.post_id not in known]
            if not added:
                continue  # a replay: already kept (or already pushed off the board)
            every = [*entries, *added]
            pinned = sorted((e for e in every if _window(e) is not None), key=lambda e: (_window(e)["until"], *_age(e)))
            latest = sorted((e for e in every if _window(e) is None), key=_age)[-self.size :]
            kept = sorted([*pinned[-PINNED:], *latest], key=_age)
            key = f"{partition}/{audience}".encode()
            value = msgpack.packb(kept, use_bin_type=True)
            self.table.data[key] = value
            self._cache[key] = kept
            deliveries.append(await send_changelog(self.table, key, value, partition))
        return deliveries

    def broadcasts(
        self, partition: int, community: str | None, count: int, run_id: str | None = None, round_: int | None = None
    ) -> list[Entry]:
        """The broadcasts for a member of ``community`` (to everyone, or to its community) acting in round
        ``round_`` of run ``run_id``: that run's broadcasts shown in that round, and the latest ``count`` others."""
        shown = list(self.entries(partition, EVERYONE))
        if community is not None:
            shown += self.entries(partition, audience_of(community))
        shown = [entry for entry in shown if entry[3] == "broadcast"]
        windowed = [e for e in shown if (w := _window(e)) is not None and _in_window(e, w, run_id, round_)]
        others = sorted((e for e in shown if _window(e) is None), key=lambda entry: entry[4])[-count:] if count else []
        return sorted([*windowed, *others], key=lambda entry: entry[4])

    def forget_cache(self) -> None:
        """After a rebalance the boards may have been restored from the changelog."""
        self._cache.clear()


def _entry(post: FeedPost, chars: int) -> Entry:
    entry = [post.post_id, post.from_agent_id, post.content[:chars], post.kind, post.created_at]
    if post.round is not None:
        entry.append(post.round)
    if post.shown_until is not None and post.run_id is not None:
        entry.append({"run": post.run_id, "until": post.shown_until})
    return entry


def _window(entry: Entry) -> dict | None:
    """A run's broadcast's window: ``{"run": run_id, "until": last round}``; None for a broadcast to all rounds."""
    return entry[6] if len(entry) > 6 else None


def _in_window(entry: Entry, window: dict, run_id: str | None, round_: int | None) -> bool:
    return round_ is not None and window["run"] == run_id and entry[5] <= round_ <= window["until"]


def _age(entry: Entry) -> tuple:
    """Oldest first: by round (a run's posts), then time, then author: ties fall alike whatever the order."""
    return (entry[5] if len(entry) > 5 else 0, entry[4], entry[1], entry[0])
