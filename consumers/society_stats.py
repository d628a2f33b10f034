"""A run's follow graph and cascades, from its record: what ``graph stats --run`` adds to the friendship graph."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

# Buckets of followers (in-degree), by their lower bound.
_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 1_000, 10_000)
LARGEST = 5


@dataclass(frozen=True)
class SocietyStats:
    follows: int  # follows standing at the end of the run
    unfollowed: int  # follows made and undone
    reciprocity: float  # of the standing follows, the share whose followed agent follows back
    followed_agents: int
    in_degree: list[tuple[str, int]] = field(default_factory=list)  # (followers, agents with that many)
    max_in_degree: int = 0
    cascades: int = 0
    deepest: int = 0
    largest: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def render(self) -> str:
        lines = [
            f"follows: {self.follows:,} standing ({self.unfollowed:,} undone), {self.followed_agents:,} agents "
            f"followed, reciprocity {self.reciprocity:.1%}, most followers {self.max_in_degree:,}",
            "followers  " + "  ".join(f"{bucket}: {count:,}" for bucket, count in self.in_degree),
            f"cascades: {self.cascades:,}, deepest {self.deepest}",
        ]
        for cascade in self.largest:
            lines.append(
                f"  {cascade['origin_id']} by {cascade['author']}: {cascade['size']:,} posts, "
                f"depth {cascade['depth']}, rounds {cascade['first_round']}-{cascade['last_round']}"
            )
        return "\n".join(lines)


def society_stats(tables: dict[str, pa.Table]) -> SocietyStats:
    """The follow graph at the end of the run (reciprocity, followers per agent) and its largest cascades."""
    follows = tables["follows"]
    # A record compacted before follows could be undone has no removed_round: none was.
    undone = "removed_round" in follows.column_names
    standing = follows.filter(pc.is_null(follows["removed_round"])) if undone else follows
    pairs = set(zip(standing["follower"].to_pylist(), standing["followed"].to_pylist(), strict=True))
    mutual = sum((b, a) in pairs for a, b in pairs)
    followers = Counter(b for _, b in pairs)
    per_bucket: Counter[int] = Counter()
    for count in followers.values():
        per_bucket[max(bucket for bucket in _BUCKETS if bucket <= count)] += 1
    in_degree = [(_label(bucket), per_bucket[bucket]) for bucket in _BUCKETS if per_bucket[bucket]]
    empty = pa.table({"depth": pa.array([], pa.int32())})
    cascades = tables.get("cascades", empty)  # none in a record from before cascades were
    largest = cascades.slice(0, LARGEST).to_pylist()  # the record orders them largest first
    return SocietyStats(
        follows=len(pairs),
        unfollowed=follows.num_rows - standing.num_rows,
        reciprocity=mutual / len(pairs) if pairs else 0.0,
        followed_agents=len(followers),
        in_degree=in_degree,
        max_in_degree=max(followers.values(), default=0),
        cascades=cascades.num_rows,
        deepest=int(pc.max(cascades["depth"]).as_py() or 0) if cascades.num_rows else 0,
        largest=largest,
    )


def _label(bucket: int) -> str:
    following = [b for b in _BUCKETS if b > bucket]
    if not following:
        return f"{bucket}+"
    upper = following[0] - 1
    return str(bucket) if upper == bucket else f"{bucket}-{upper}"
