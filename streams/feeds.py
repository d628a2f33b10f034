"""An act's feed: its broadcasts, its inbox, and the posts a recommender ranks for it from the partition's pool.

The candidates: the most engaged and newest posts of its community, the posts of the agents it follows,
and the partition's trending posts (the most engaged), all of the rounds before the act's (``PostPool``);
minus its own posts, its muted authors' and what its recent feeds showed it, and what moderation took out
(removed posts, hidden authors: ``streams/moderation.py``), broadcasts and friends' posts included. Its
friends' posts reach its inbox (``streams/follow_ups.py``) and are shown apart. A recommender ranks the
candidates (``streams/recommenders.py``); the first ``feed_size`` are shown.
"""

from __future__ import annotations

from streams import profiles
from streams.feed_board import FeedBoard
from streams.moderation import Moderated
from streams.post_pool import Entry, PostPool, counts
from streams.prompts import FeedView, feed_view, inbox_post
from streams.recommenders import Candidate, Reader, recommender
from swarmstream.events import InteractionRequested
from swarmstream.profile_format import Profile, seen_mark
from swarmstream.settings import Settings

# Followed agents whose posts a feed looks for (the first, in the profile's order) and posts of each (the newest).
FOLLOWED_LOOKED_AT = 200
POSTS_PER_FOLLOWED = 2


def act_feed(
    profile: Profile,
    request: InteractionRequested,
    partition: int,
    board: FeedBoard,
    pool: PostPool,
    settings: Settings,
    moderated: Moderated | None = None,
) -> FeedView:
    """The feed of ``request`` (an act, or a question), on ``partition``, for the agent as its round began
    (``profile``). A question asked after its round's acts reads the posts that round made too."""
    round_ = request.round
    # The board's broadcasts of the act's round (a question after the round's acts: still that round's).
    community = profile.get("community")
    broadcasts = board.broadcasts(partition, community, settings.feed_broadcasts, request.run_id, round_)
    if request.phase == "after" and round_ is not None:
        round_ += 1
    seed = request.sample_seed or request.request_id
    removed = moderated.removed(partition) if moderated is not None else set()
    hidden = moderated.hidden(partition) if moderated is not None else set()
    if removed or hidden:
        broadcasts = [entry for entry in broadcasts if entry[0] not in removed and entry[1] not in hidden]
    me, muted, seen = request.agent_id, set(profile["muted"]), profiles.seen_marks(profile)
    inbox_posts = [entry for entry in profile.get("inbox") or () if entry[3] == "post"]
    skipped = {entry[0] for entry in inbox_posts}
    inbox_posts = [entry for entry in inbox_posts if entry[0] not in removed and entry[1] not in hidden]
    found: dict[str, Candidate] = {}

    def consider(entry: Entry, source: str) -> None:
        post_id, author = entry[0], entry[1]
        if post_id in found or post_id in skipped or author == me or author in muted or entry[3] == "broadcast":
            return  # broadcasts are shown apart, from the boards
        if post_id in removed or author in hidden:  # taken out by moderation (sets of the partition: not copied)
            return
        if seen and seen_mark(post_id) in seen:
            return
        found[post_id] = candidate(entry, round_, source)

    shortlist = settings.feed_candidates
    if community is not None:
        for entry in pool.of_community(partition, community, round_, shortlist):
            consider(entry, "community")
    for author in profile["follows"][:FOLLOWED_LOOKED_AT]:
        for entry in pool.by(partition, author, round_)[-POSTS_PER_FOLLOWED:]:
            consider(entry, "followed")
    for entry in pool.trending(partition, round_, settings.feed_trending):
        consider(entry, "trending")
    reader = Reader(
        me, tuple(profile.get("interests") or ()), community, tuple(profile["follows"]), round_, seed
    )  # fmt: skip
    size = request.feed_size if request.feed_size is not None else settings.feed_size
    ranked = recommender(request.feed or settings.feed_recommender).rank(reader, list(found.values()))[:size]
    friends_posts = []
    for entry in inbox_posts:
        pooled = pool.get(partition, entry[0])
        friends_posts.append(candidate(pooled, round_, "friends") if pooled is not None else inbox_post(entry))
    announced = [_announced(entry, pool.get(partition, entry[0]), round_) for entry in broadcasts]
    return feed_view(profile, announced, ranked, friends_posts)


def _announced(entry: Entry, pooled: Entry | None, round_: int | None) -> Candidate:
    """A board's broadcast as a feed's post, with what it drew (counted in the pool)."""
    drew = tuple(counts(pooled, round_)) if pooled is not None else (0,) * 5
    return Candidate(entry[0], entry[1], entry[2], "broadcast", None, entry[4], drew, source="broadcast")


def candidate(entry: Entry, round_: int | None, source: str) -> Candidate:
    """A pool entry as a feed's candidate, with what it drew before ``round_``."""
    meta = entry[6]
    return Candidate(
        post_id=entry[0],
        author=entry[1],
        text=entry[2],
        kind=entry[3],
        round=entry[5],
        created_at=entry[4],
        counts=tuple(counts(entry, round_)),
        source=source,
        origin_id=meta.get("origin"),
        depth=meta.get("depth", 0),
    )
