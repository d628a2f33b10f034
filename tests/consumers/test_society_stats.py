"""What ``graph stats --run`` says of a run's follows and cascades, from its record's tables."""

from __future__ import annotations

import pyarrow as pa

from consumers.society_stats import society_stats


def test_follows_reciprocity_followers_and_the_largest_cascades():
    follows = pa.table({
        "follower": ["a", "b", "c", "d", "e", "a"],
        "followed": ["b", "a", "a", "a", "a", "e"],
        "round": [1, 1, 2, 2, 3, 1],
        "weight": [None] * 6,
        "removed_round": [None, None, None, None, None, 3],  # a unfollowed e
    })  # fmt: skip
    cascades = pa.table({
        "origin_id": ["p1", "p2"], "author": ["a", "b"], "origin_round": [1, 2], "size": [9, 2], "depth": [3, 1],
        "first_round": [1, 2], "last_round": [5, 3],
    })  # fmt: skip
    stats = society_stats({"follows": follows, "cascades": cascades})
    assert (stats.follows, stats.unfollowed, stats.followed_agents, stats.max_in_degree) == (5, 1, 2, 4)
    assert stats.reciprocity == 2 / 5, "a and b follow each other: two of five"
    assert stats.in_degree == [("1", 1), ("2-4", 1)]
    assert (stats.cascades, stats.deepest, stats.largest[0]["origin_id"]) == (2, 3, "p1")
    shown = stats.render()
    assert "reciprocity 40.0%" in shown and "p1 by a: 9 posts, depth 3, rounds 1-5" in shown
