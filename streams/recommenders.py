"""How an act's feed ranks its candidate posts: recent, hot, interest, random, or a recommender of your own.

A recommender is anything with ``rank(reader, candidates) -> candidates, best first``; the worker shows
the first ``feed_size``. A run names it (``simulate --feed hot``), or names one of its own as
``module:attribute`` (a class, made once with no argument, or an object with ``rank``), importable where
the workers run. Rankings must depend only on what they are given (no clock, no fresh randomness: the
reader's ``seed`` is the run's, round's and agent's), so that runs with one seed show the same feeds.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from swarmstream.events import ENGAGEMENTS

# A round is an hour in Reddit's hot score (its time, in seconds, is the post's round times this).
SECONDS_PER_ROUND = 3600.0
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Candidate:
    """A post a feed may show, with what it drew before the reader's round (``counts``, by ``ENGAGEMENTS``)."""

    post_id: str
    author: str
    text: str
    kind: str  # post, repost, quote, comment
    round: int | None
    created_at: float
    counts: tuple[int, ...] = (0,) * len(ENGAGEMENTS)
    source: str = "community"  # community, followed, trending, friends, broadcast
    # Where it stands in its cascade: the first post of its chain (None: it is one) and how deep it is.
    origin_id: str | None = None
    depth: int = 0

    @property
    def likes(self) -> int:
        return self.counts[0]

    @property
    def dislikes(self) -> int:
        return self.counts[1]

    @property
    def engagement(self) -> int:
        return sum(self.counts)


@dataclass(frozen=True)
class Reader:
    """Who the feed is for: its id, interests, community and follows, the round, and the seed of its draws."""

    agent_id: str
    interests: tuple[str, ...] = ()
    community: str | None = None
    follows: tuple[str, ...] = ()
    round: int | None = None
    seed: str = ""


class Recommender(Protocol):
    def rank(self, reader: Reader, candidates: Sequence[Candidate]) -> list[Candidate]:
        """``candidates``, best first (a subset is fine: the worker shows the first ``feed_size``)."""
        ...


def _alike(candidate: Candidate) -> tuple:
    """A tie-break that is the same in every run of one seed: what the post is, not its id (which names the run)."""
    return (candidate.author, candidate.text)


class Recent:
    """The newest first: by round, then time."""

    def rank(self, reader: Reader, candidates: Sequence[Candidate]) -> list[Candidate]:
        return sorted(candidates, key=lambda c: (-(c.round or 0), -c.created_at, _alike(c)))


def hot_score(likes: int, dislikes: int, seconds: float) -> float:
    """Reddit's hot score (as OASIS ranks its Reddit feeds): ``log10(max(|u - d|, 1)) + sign(u - d) * t / 45000``."""
    score = likes - dislikes
    order = math.log10(max(abs(score), 1))
    sign = 1 if score > 0 else -1 if score < 0 else 0
    return round(order + sign * seconds / 45000, 7)


class Hot:
    """Reddit's hot score of likes, dislikes and age: a post's time is its round (an hour each), else its time."""

    def rank(self, reader: Reader, candidates: Sequence[Candidate]) -> list[Candidate]:
        def score(c: Candidate) -> tuple:
            seconds = c.round * SECONDS_PER_ROUND if c.round is not None else c.created_at
            return (-hot_score(c.likes, c.dislikes, seconds), -(c.round or 0), _alike(c))

        return sorted(candidates, key=score)


def words(text: str) -> frozenset[str]:
    """A text's words, lower case, of three letters or more: the cheap representation ``interest`` compares."""
    return frozenset(word for word in _WORD.findall(text.lower()) if len(word) > 2)


class Interest:
    """Most similar to the reader's interests first: the share of the post's words among them (Jaccard), then
    the newest."""

    def rank(self, reader: Reader, candidates: Sequence[Candidate]) -> list[Candidate]:
        interests = words(" ".join(reader.interests))

        def score(c: Candidate) -> tuple:
            said = words(c.text)
            shared = len(said & interests) / len(said | interests) if said and interests else 0.0
            return (-round(shared, 9), -(c.round or 0), _alike(c))

        return sorted(candidates, key=score)


class Random:
    """A draw by the reader's seed (the run's, round's and agent's): the same feed for the same seed."""

    def rank(self, reader: Reader, candidates: Sequence[Candidate]) -> list[Candidate]:
        def draw(c: Candidate) -> bytes:
            return hashlib.blake2b(f"{reader.seed}/{c.author}/{c.text}".encode(), digest_size=8).digest()

        return sorted(candidates, key=draw)


BUILT_IN: dict[str, type] = {"recent": Recent, "hot": Hot, "interest": Interest, "random": Random}


@functools.cache
def recommender(name: str) -> Recommender:
    """The recommender ``name`` names: a built-in one, or ``module:attribute``.

    :raises ValueError: naming what was not found, and the built-in names.
    """
    if name in BUILT_IN:
        return BUILT_IN[name]()  # type: ignore[no-any-return]
    module, _, attribute = name.partition(":")
    if not module or not attribute:
        raise ValueError(f"unknown feed {name!r}: choose {', '.join(BUILT_IN)}, or name one as module:attribute")
    try:
        found = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"feed {name!r}: {exc}") from None
    made = found() if isinstance(found, type) else found
    if not callable(getattr(made, "rank", None)):
        raise ValueError(f"feed {name!r}: {type(made).__name__} has no rank(reader, candidates)")
    return made  # type: ignore[no-any-return]
