"""The recent posts of every author, per partition, with what they drew: the pool ranked feeds choose from.

Every post (and repost, quote, comment) of a society reaches every partition once, batched per flush as
``feed.posted``; each partition keeps those of the last rounds (``feed_pool_rounds``; outside a run, the
latest ``size``). Its engagements (likes, dislikes, reposts, quotes, comments) arrive the same way
(``feed.engaged``) and are counted on its entry once per key, by the round they were made in. An act of
round R chooses among the posts of the ``rounds`` rounds before R, with the counts of rounds before R:
what R's own answers add, in whatever order, is not seen until R + 1, so same-seed runs rank alike. Each
post is its own key in the feed boards' table (``{partition}/p/{post_id}``): a change writes one small
changelog record, and a post leaving the pool a tombstone.

An entry is ``[post_id, author, text, kind, created_at, round, meta]``; ``meta`` holds the counts by round
(``n``: {round: [likes, dislikes, reposts, quotes, comments]}), the keys counted (``k``), and for a repost,
quote or comment its ``parent``, ``origin`` and ``depth``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from sys import intern

import faust
import msgpack
from faust.types import RecordMetadata

from streams.profile_store import send_changelog
from swarmstream.events import ENGAGEMENTS, Engagement, FeedPost
from swarmstream.profile_format import id_bytes

log = logging.getLogger(__name__)

Entry = list  # [post_id, author, text, kind, created_at, round, meta]
COUNTED = {kind: index for index, kind in enumerate(ENGAGEMENTS)}
_KEY_SIZE = 8  # what ``k`` keeps of an engagement's key: 8 bytes of its hex digest
_SET_FROM = 32  # keys counted on a post from which they are looked up in a set


def counts(entry: Entry, round_: int | None = None) -> list[int]:
    """The entry's [likes, dislikes, reposts, quotes, comments], of the rounds before ``round_`` (None: all)."""
    total = [0] * len(ENGAGEMENTS)
    for made, figures in entry[6].get("n", {}).items():
        if round_ is None or made < round_:
            for index, figure in enumerate(figures):
                total[index] += figure
    return total


def engagement(entry: Entry, round_: int | None = None) -> int:
    """How much the post drew before ``round_``: every like, dislike, repost, quote and comment."""
    return sum(counts(entry, round_))


class PostPool:
    """The pool of each partition this worker holds, in the feed boards' table.

    :param table: the feed boards' table (its changelog keeps the pool, a key per post).
    :param rounds: the rounds of posts a feed chooses from (and kept, with the round being played).
    :param size: posts kept at most, of posts made outside a run (with no round).
    :param chars: a post's text is kept up to this many characters.
    """

    def __init__(self, table: faust.Table, rounds: int, size: int, chars: int):
        self.table = table
        self.rounds = rounds
        self.size = size
        self.chars = chars
        self._posts: dict[int, dict[str, Entry]] = {}  # partition -> post id -> entry
        self._by_author: dict[int, dict[str, list[str]]] = {}  # partition -> author -> post ids
        self._by_community: dict[int, dict[str, list[str]]] = {}  # partition -> community -> post ids
        # Rankings an act of a round reads, made once per round: (partition, round[, community]) -> entries.
        # (how many were ranked, the ranking): a short ranking is complete, not a reason to rank again.
        self._trending: dict[tuple, tuple[int, list[Entry]]] = {}
        self._swept: dict[int, int] = {}  # partition -> the newest round its pool was swept for
        # partition -> post id -> the engagement keys counted on it (its meta's ``k``, as a set)
        self._counted: dict[int, dict[str, set[bytes]]] = {}

    def posts(self, partition: int) -> dict[str, Entry]:
        """The partition's pool, read from the table once after each rebalance."""
        pool = self._posts.get(partition)
        if pool is None:
            pool = self._posts[partition] = {}
            prefix = f"{partition}/p/".encode()
            for key, value in list(self.table.data.items()):
                if key.startswith(prefix) and value is not None:
                    entry = msgpack.unpackb(value, raw=False, use_list=True, strict_map_key=False)
                    pool[entry[0]] = entry
            self._by_author[partition] = defaultdict(list)
            self._by_community[partition] = defaultdict(list)
            for entry in sorted(pool.values(), key=_age):
                self._index(partition, entry)
        return pool

    def _index(self, partition: int, entry: Entry) -> None:
        self._by_author[partition][entry[1]].append(entry[0])
        community = entry[6].get("c")
        if community is not None:
            self._by_community[partition][community].append(entry[0])

    def get(self, partition: int, post_id: str) -> Entry | None:
        return self.posts(partition).get(post_id)

    def shown_in(self, entry: Entry, round_: int | None) -> bool:
        """Whether an act of ``round_`` may be shown ``entry``: of the ``rounds`` rounds before it (outside a
        run: any post)."""
        made = entry[5]
        return round_ is None or made is None or round_ - self.rounds <= made < round_

    def by(self, partition: int, author: str, round_: int | None) -> list[Entry]:
        """``author``'s posts an act of ``round_`` may be shown, oldest first."""
        pool = self.posts(partition)
        ids = self._by_author[partition].get(author, ())
        return [pool[post_id] for post_id in ids if self.shown_in(pool[post_id], round_)]

    def trending(self, partition: int, round_: int | None, top: int) -> list[Entry]:
        """The ``top`` posts an act of ``round_`` may be shown that drew the most before it (ties: the newest)."""
        cached = self._trending.get((partition, round_))
        if cached is None or cached[0] < top:
            engaged = [
                entry for entry in self.posts(partition).values()
                if self.shown_in(entry, round_) and engagement(entry, round_)
            ]  # fmt: skip
            ranked = max(top, 32)
            cached = self._trending[(partition, round_)] = (ranked, _leading(engaged, round_, ranked))
        return cached[1][:top]

    def of_community(self, partition: int, community: str, round_: int | None, top: int) -> list[Entry]:
        """The ``top`` posts of ``community`` an act of ``round_`` may be shown: the most engaged, then the newest."""
        cached = self._trending.get((partition, round_, community))
        if cached is None or cached[0] < top:
            pool = self.posts(partition)
            ids = self._by_community[partition].get(community, ())
            shown = [pool[post_id] for post_id in ids if self.shown_in(pool[post_id], round_)]
            ranked = max(top, 32)
            cached = self._trending[(partition, round_, community)] = (ranked, _leading(shown, round_, ranked))
        return cached[1][:top]

    async def add(self, partition: int, posts: list[FeedPost]) -> list[asyncio.Future[RecordMetadata]]:
        """Keep ``posts`` (broadcasts too, to count what they draw); a post already there is left as it is."""
        pool = self.posts(partition)
        deliveries = []
        newest = None
        loose = False
        for post in posts:
            if post.post_id in pool:
                continue
            meta: dict = {} if post.community is None else {"c": intern(post.community)}
            if post.parent_id is not None:
                meta |= {"parent": intern(post.parent_id), "origin": intern(post.origin_id or ""), "depth": post.depth}
            # Every partition a worker holds keeps its own entry of each post: their strings are one object.
            entry = [intern(post.post_id), intern(post.from_agent_id), intern(post.content[: self.chars]), post.kind,
                     post.created_at, post.round, meta]  # fmt: skip
            pool[post.post_id] = entry
            self._index(partition, entry)
            deliveries.append(await self._write(partition, entry))
            if post.round is not None and (newest is None or post.round > newest):
                newest = post.round
            loose = loose or post.round is None
        # A pool is swept when a new round's first posts arrive (and when posts outside a run may overflow it).
        if loose:  # rankings outside a run count every post: made again
            for cached in [key for key in self._trending if key[0] == partition and key[1] is None]:
                del self._trending[cached]
        if (newest is not None and newest > self._swept.get(partition, 0)) or loose:
            if newest is not None:
                self._swept[partition] = max(newest, self._swept.get(partition, 0))
            deliveries += await self._evict(partition, newest)
        return deliveries

    async def engage(self, partition: int, engagements: list[Engagement]) -> tuple[list[asyncio.Future], int]:
        """Count ``engagements`` on their posts, each key once; returns the deliveries and how many were dropped
        (their post is not in the pool: gone, or never there)."""
        pool = self.posts(partition)
        counted = self._counted.setdefault(partition, {})
        changed: dict[str, Entry] = {}
        dropped = 0
        earliest: int | None = None  # the earliest round counted now (0: one outside a run)
        for made in engagements:
            entry = pool.get(made.post_id)
            if entry is None:
                dropped += 1
                continue
            meta = entry[6]
            key = id_bytes(made.key, _KEY_SIZE)
            keys = meta.setdefault("k", [])
            # The keys counted: a short list searched, a long one as a set beside it (a post with 10,000 likes is
            # one lookup each; most posts draw a few, and a set each would cost more than the search).
            seen = counted.get(made.post_id)
            if seen is None and len(keys) >= _SET_FROM:
                seen = counted[made.post_id] = set(keys)
            if key in (seen if seen is not None else keys):
                continue  # counted already: a replay
            if seen is not None:
                seen.add(key)
            keys.append(key)
            figures = meta.setdefault("n", {}).setdefault(made.round or 0, [0] * len(ENGAGEMENTS))
            figures[COUNTED[made.kind]] += 1
            changed[made.post_id] = entry
            made_in = made.round or 0
            earliest = made_in if earliest is None else min(earliest, made_in)
        if earliest is not None:
            # Rankings of later rounds counted without them (a replay after a crash, late): made again.
            for cached in [key for key in self._trending if key[0] == partition]:
                if cached[1] is None or earliest == 0 or cached[1] > earliest:
                    del self._trending[cached]
        deliveries = [await self._write(partition, entry) for entry in changed.values()]
        return deliveries, dropped

    def forget_cache(self) -> None:
        """After a rebalance the pool may have been restored from the changelog."""
        self._posts.clear()
        self._by_author.clear()
        self._by_community.clear()
        self._trending.clear()
        self._swept.clear()
        self._counted.clear()

    async def _write(self, partition: int, entry: Entry) -> asyncio.Future[RecordMetadata]:
        key = f"{partition}/p/{entry[0]}".encode()
        value = msgpack.packb(entry, use_bin_type=True)
        self.table.data[key] = value
        return await send_changelog(self.table, key, value, partition)

    async def _evict(self, partition: int, newest: int | None) -> list[asyncio.Future[RecordMetadata]]:
        """Tombstones for posts no act can be shown any more: of rounds before the newest round's window, and
        past ``size`` of the posts made outside a run (the oldest first)."""
        pool = self.posts(partition)
        gone = []
        if newest is not None:
            gone = [
                post_id for post_id, entry in pool.items() if entry[5] is not None and entry[5] < newest - self.rounds
            ]
        loose = [entry for entry in pool.values() if entry[5] is None]
        if len(loose) > self.size:
            gone += [entry[0] for entry in sorted(loose, key=_age)[: len(loose) - self.size]]
        deliveries = []
        touched: set[tuple[int, str]] = set()
        counted = self._counted.get(partition, {})
        for post_id in gone:
            entry = pool.pop(post_id)
            counted.pop(post_id, None)
            touched.add((0, entry[1]))
            if entry[6].get("c") is not None:
                touched.add((1, entry[6]["c"]))
        indexes = (self._by_author[partition], self._by_community[partition])
        for which, by in touched:  # each list filtered once, not a removal per post
            kept = [post_id for post_id in indexes[which].get(by, ()) if post_id in pool]
            if kept:
                indexes[which][by] = kept
            else:
                indexes[which].pop(by, None)
        if newest is not None:  # rankings no act will read any more
            for cached in [key for key in self._trending if key[0] == partition and (key[1] or 0) < newest - 1]:
                del self._trending[cached]
        for post_id in gone:
            key = f"{partition}/p/{post_id}".encode()
            self.table.data.pop(key, None)
            deliveries.append(await send_changelog(self.table, key, None, partition))
        return deliveries


def _leading(entries: list[Entry], round_: int | None, top: int) -> list[Entry]:
    """The ``top`` of ``entries`` that drew the most before ``round_``, then the newest."""
    return sorted(entries, key=lambda entry: (engagement(entry, round_), _age(entry)), reverse=True)[:top]


def _age(entry: Entry) -> tuple:
    """Oldest first: by round, then time, then author and id, so that ties fall alike whatever the order."""
    return (entry[5] or 0, entry[4], entry[1], entry[0])
