"""Each recommender's order on one fixed set of candidates, and recommenders of one's own by name."""

from __future__ import annotations

import pytest

from streams.recommenders import Candidate, Hot, Reader, hot_score, recommender

# (id, author, text, round, likes, dislikes)
BOARD = [
    Candidate("old-loved", "a1", "gardens and rivers in spring", "post", 1, 10.0, (40, 2, 0, 0, 0)),
    Candidate("new-quiet", "a2", "a quiet morning with coffee", "post", 5, 50.0),
    Candidate("mid-liked", "a3", "science fair for kids", "post", 3, 30.0, (5, 0, 1, 0, 0)),
    Candidate("disliked", "a4", "rivers are overrated", "post", 4, 40.0, (1, 9, 0, 0, 0)),
    Candidate("new-music", "a5", "music in the park tonight", "post", 5, 51.0),
]
READER = Reader("me", interests=("music", "parks"), community="c", round=6, seed="run-seed/6/me")


def ids(name: str) -> list[str]:
    return [c.post_id for c in recommender(name).rank(READER, BOARD)]


def test_recent_is_the_newest_round_then_time_first():
    assert ids("recent") == ["new-music", "new-quiet", "disliked", "mid-liked", "old-loved"]


def test_hot_is_reddits_score_of_likes_dislikes_and_round():
    # log10(38) + 3600 / 45000 = 1.66; log10(5) + 3 * 0.08 = 0.94; net disliked: log10(8) - 4 * 0.08 = 0.58;
    # never liked: 0, the tie falling by author.
    assert ids("hot") == ["old-loved", "mid-liked", "disliked", "new-quiet", "new-music"]
    assert hot_score(38, 0, 3600) == pytest.approx(1.5798 + 0.08, abs=1e-3)
    assert hot_score(0, 0, 10**6) == 0.0 and hot_score(1, 9, 4 * 3600) < 1.0


def test_interest_puts_the_posts_sharing_the_readers_words_first():
    assert ids("interest")[0] == "new-music", "music and park(s): the only post sharing the reader's words"
    assert ids("interest")[1:] == ["new-quiet", "disliked", "mid-liked", "old-loved"], "the rest: newest first"


def test_random_is_a_draw_by_the_readers_seed_the_same_every_time():
    first = ids("random")
    assert sorted(first) == sorted(c.post_id for c in BOARD) and first == ids("random")
    other = Reader("me", seed="run-seed/7/me")
    orders = {tuple(c.post_id for c in recommender("random").rank(other, BOARD)), tuple(first)}
    assert len(orders) == 2, "another seed, another order"
    # By what a post is, not its id: the same posts under other ids (another run) fall alike.
    renamed = [Candidate("x-" + c.post_id, c.author, c.text, c.kind, c.round, c.created_at) for c in BOARD]
    assert ["x-" + i for i in first] == [c.post_id for c in recommender("random").rank(READER, renamed)]


class MostDisliked:
    def rank(self, reader, candidates):
        return sorted(candidates, key=lambda post: (-post.dislikes, post.author))


THE_MOST_DISLIKED = MostDisliked()


def test_a_recommender_of_ones_own_is_named_by_module_and_attribute():
    assert recommender(f"{__name__}:MostDisliked").rank(READER, BOARD)[0].post_id == "disliked"
    assert recommender(f"{__name__}:THE_MOST_DISLIKED") is THE_MOST_DISLIKED, "an object is used as it is"
    assert isinstance(recommender("hot"), Hot)
    with pytest.raises(ValueError, match="unknown feed 'hottest': choose recent, hot, interest, random"):
        recommender("hottest")
    with pytest.raises(ValueError, match="No module named 'no_such_module'"):
        recommender("no_such_module:Thing")
    with pytest.raises(ValueError, match="has no rank"):
        recommender(f"{__name__}:READER")
