"""The social graph's store: SQLite by default, PostgreSQL when a DSN is given; the same SQL for both.

Interaction edges (who talked to whom, weighted) and friendships (mutual, capped). Every response
counts once, by ``event_id``, whatever the number of times it is delivered.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

from swarmstream.responses_codec import Responded

_TABLES = {
    # A 16-byte digest of each event id: a fixed, small key whatever the id (up to 128 characters).
    "processed_events": "event_key {blob} PRIMARY KEY",
    "nodes": "agent_id TEXT PRIMARY KEY",
    "edges": "src TEXT NOT NULL, dst TEXT NOT NULL, weight BIGINT NOT NULL, PRIMARY KEY (src, dst)",
    # Both directions of each friendship: an agent's friends and their count are one index range.
    "friendships": "agent_id TEXT NOT NULL, friend_id TEXT NOT NULL, PRIMARY KEY (agent_id, friend_id)",
    # One-way ties: the follower reads the followed agent's posts.
    "follows": "follower TEXT NOT NULL, followed TEXT NOT NULL, PRIMARY KEY (follower, followed)",
    # The latest detection's communities (consumers/communities.py).
    "communities": "agent_id TEXT PRIMARY KEY, community TEXT NOT NULL",
    # The society round (of the first run) each edge first appeared in: "talk" and "read" edges as in
    # ``edges``, "friend" pairs once (agent_id < friend_id). Edges made outside runs have no row.
    "edge_rounds": (
        "src TEXT NOT NULL, dst TEXT NOT NULL, kind TEXT NOT NULL, run_id TEXT NOT NULL, round BIGINT NOT NULL, "
        "PRIMARY KEY (src, dst, kind)"
    ),
}

# A response's edges first seen in a round: kept at the earliest round of the run that first made them.
_FIRST_ROUND = (
    "INSERT INTO edge_rounds VALUES (?, ?, ?, ?, ?) ON CONFLICT (src, dst, kind) DO UPDATE SET round = "
    "CASE WHEN excluded.run_id = edge_rounds.run_id AND excluded.round < edge_rounds.round "
    "THEN excluded.round ELSE edge_rounds.round END"
)


T = TypeVar("T")

# The advisory lock (any fixed 64-bit key) that serializes replicas creating the schema.
SCHEMA_LOCK = 0x5357_4152_4D47_5246

# Times a PostgreSQL batch is run again after the server aborted it to break a deadlock between replicas.
DEADLOCK_RETRIES = 5


def event_key(event_id: str) -> bytes:
    return hashlib.blake2b(event_id.encode(), digest_size=16).digest()


@dataclass
class GraphChanges:
    """What one batch of responses did to the graph."""

    interactions: int = 0
    # Posts read: edges from each reader to the authors of the posts in its feed.
    reads: int = 0
    # Agents seen in an interaction for the first time.
    new_nodes: int = 0
    # Friend-request outcomes: formed, already_friends, cap_reached, declined, malformed.
    friend_requests: Counter[str] = field(default_factory=Counter)
    # Accepted pairs that are friends now, new or replayed, with the society round they were made in (if
    # any): their agents' profiles must say so.
    friendships: dict[tuple[str, str], int | None] = field(default_factory=dict)


class GraphStore:
    """``GraphStore(path)`` for SQLite, ``GraphStore(dsn="postgresql://...")`` for PostgreSQL."""

    def __init__(self, path: str | Path | None = None, *, dsn: str | None = None):
        self.postgres = dsn is not None
        if dsn is not None:
            import psycopg

            self.db: Any = psycopg.connect(dsn, autocommit=True)
            suffix = ""
        else:
            if path is None:
                raise ValueError("GraphStore needs a SQLite path or a PostgreSQL DSN")
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # Events and edges land at random places in their B-trees: a cache of 256 MB keeps the pages
            # of a million-edge graph in memory instead of rereading them for every batch.
            self.db.execute("PRAGMA cache_size=-262144")
            # Checkpoint every 80 MB of WAL, not every 4 MB: a page rewritten by many batches reaches the
            # database file once per checkpoint (BENCHMARKS.md, the graph store).
            self.db.execute("PRAGMA wal_autocheckpoint=20000")
            suffix = " WITHOUT ROWID"
        blob = "BYTEA" if self.postgres else "BLOB"
        with self._transaction():
            if self.postgres:
                # Replicas starting together: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against a
                # concurrent one (the loser fails on the table's row type), so one creates while the others wait.
                self._run("SELECT pg_advisory_xact_lock(?)", (SCHEMA_LOCK,))
            for name, columns in _TABLES.items():
                self._run(f"CREATE TABLE IF NOT EXISTS {name} ({columns.format(blob=blob)}){suffix}")

    def _run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        # psycopg's placeholder is %s, sqlite3's is ?; our SQL has no literal question marks.
        return self.db.execute(sql.replace("?", "%s") if self.postgres else sql, params)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        if self.postgres:
            with self.db.transaction():
                yield
        else:
            self.db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def apply(self, responses: Sequence[Responded], max_friends: int) -> GraphChanges:
        """Record a batch in one transaction.

        Set-wise, not row by row: which events are new in one query per 500, then one statement each
        for events, nodes and summed edge weights. Friend requests, rare, go one by one (in order, for the cap).
        On PostgreSQL, several replicas may apply batches at once: the agents of the batch's friend requests
        are locked (in id order) before their friends are counted, so the cap and mutuality hold across
        replicas; a transaction the server aborts to break a deadlock is run again.
        """
        if not self.postgres:
            return self._apply(responses, max_friends)
        import psycopg.errors

        for attempt in range(1, DEADLOCK_RETRIES + 1):
            try:
                return self._apply(responses, max_friends)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt == DEADLOCK_RETRIES:
                    raise
        raise AssertionError("unreachable")

    def _apply(self, responses: Sequence[Responded], max_friends: int) -> GraphChanges:
        changes = GraphChanges()
        order = self._lock_order
        with self._transaction():
            keys = [event_key(response.event_id) for response in responses]
            unique = sorted(set(keys))
            seen = self._recorded(unique)
            self._run_many("INSERT INTO processed_events VALUES (?)", [(key,) for key in unique if key not in seen])
            fresh: list[Responded] = []
            for key, response in zip(keys, responses, strict=True):
                if key not in seen:
                    seen.add(key)
                    fresh.append(response)
            talks = Counter(
                (response.agent_id, response.target_agent_id) for response in fresh if response.target_agent_id
            )
            reads = Counter(
                (response.agent_id, author)
                for response in fresh
                for author in response.read_from
                if author != response.agent_id
            )
            changes.interactions = sum(talks.values())
            changes.reads = sum(reads.values())
            weights = talks + reads if reads else talks
            changes.new_nodes = self._run_many(
                "INSERT INTO nodes VALUES (?) ON CONFLICT DO NOTHING",
                [(agent,) for agent in order({*chain(*weights)})],
            )
            self._run_many(
                "INSERT INTO edges VALUES (?, ?, ?) ON CONFLICT (src, dst) DO UPDATE SET weight = edges.weight + ?",
                [(src, dst, count, count) for (src, dst), count in order(weights.items())],
            )
            firsts: dict[tuple[str, str, str], tuple[str, int]] = {}
            for response in fresh:
                if response.run_id is None or response.round is None:
                    continue
                run = (response.run_id, response.round)
                if response.target_agent_id is not None:
                    firsts.setdefault((response.agent_id, response.target_agent_id, "talk"), run)
                for author in response.read_from:
                    if author != response.agent_id:
                        firsts.setdefault((response.agent_id, author, "read"), run)
            self._lock_agents(
                {
                    agent
                    for r in fresh
                    if r.kind == "friend_request" and r.decision == "accept" and r.target_agent_id is not None
                    for agent in (r.agent_id, r.target_agent_id)
                }
            )
            for response in fresh:
                if response.kind == "friend_request" and response.target_agent_id is not None:
                    accepted = response.decision == "accept"
                    outcome = (
                        self._befriend(response.agent_id, response.target_agent_id, max_friends) if accepted else None
                    )
                    outcome = outcome or ("malformed" if response.decision_malformed else "declined")
                    changes.friend_requests[outcome] += 1
                    if outcome == "formed" and response.run_id is not None and response.round is not None:
                        pair = sorted((response.agent_id, response.target_agent_id))
                        firsts.setdefault((pair[0], pair[1], "friend"), (response.run_id, response.round))
            self._run_many(_FIRST_ROUND, [(*edge, *run) for edge, run in order(firsts.items())])
            for response in responses:
                src, dst = response.agent_id, response.target_agent_id
                accepted = response.kind == "friend_request" and response.decision == "accept"
                if accepted and dst is not None and self.are_friends(src, dst):
                    changes.friendships[(src, dst)] = response.round
        return changes

    def _lock_order(self, rows: Iterable[T]) -> Iterable[T]:
        """Rows in the order their statement takes row locks: sorted on PostgreSQL, where replicas writing
        the same rows in one order wait for each other instead of deadlocking; as they come on SQLite,
        whose one writer needs no order (sorting 20,000 pairs of agent ids costs more than it saves)."""
        return sorted(rows) if self.postgres else rows  # type: ignore[type-var]

    def _lock_agents(self, agents: set[str]) -> None:
        """PostgreSQL: hold these agents' node rows until the transaction ends (they exist: every friend
        request's agents are nodes of its edge). Another replica deciding about one of them waits."""
        if self.postgres and agents:
            self._run(
                "SELECT agent_id FROM nodes WHERE agent_id = ANY(?) ORDER BY agent_id FOR UPDATE", (sorted(agents),)
            )

    def _recorded(self, ordered: list[bytes]) -> set[bytes]:
        """Which of these event keys (sorted, distinct) are recorded already."""
        found: set[bytes] = set()
        for start in range(0, len(ordered), 500):
            chunk = ordered[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._run(f"SELECT event_key FROM processed_events WHERE event_key IN ({marks})", chunk)
            found.update(bytes(row[0]) for row in rows.fetchall())
        return found

    def _run_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Rows changed (summed over ``rows``; a conflict left alone changes none)."""
        if not rows:
            return 0
        if self.postgres:
            with self.db.cursor() as cursor:
                cursor.executemany(sql.replace("?", "%s"), rows)
                return cursor.rowcount
        return self.db.executemany(sql, rows).rowcount

    def add_ties(self, friends: Iterable[tuple[str, str]], follows: Iterable[tuple[str, str]]) -> int:
        """The population's ties as a run starts (imported, or made in earlier runs), in one transaction:
        mutual friendships (beyond any cap: they are given) and follows. Returns the rows added."""
        friend_rows = [row for a, b in friends if a != b for row in ((a, b), (b, a))]
        follow_rows = [(a, b) for a, b in follows if a != b]
        nodes = sorted({agent for row in (*friend_rows, *follow_rows) for agent in row})
        with self._transaction():
            self._run_many("INSERT INTO nodes VALUES (?) ON CONFLICT DO NOTHING", [(agent,) for agent in nodes])
            added = self._run_many("INSERT INTO friendships VALUES (?, ?) ON CONFLICT DO NOTHING", friend_rows)
            return added + self._run_many("INSERT INTO follows VALUES (?, ?) ON CONFLICT DO NOTHING", follow_rows)

    def follows(self, agent_id: str) -> list[str]:
        """Whom ``agent_id`` follows."""
        rows = self._run("SELECT followed FROM follows WHERE follower = ? ORDER BY followed", (agent_id,))
        return [row[0] for row in rows.fetchall()]

    def follow_count(self) -> int:
        return self._run("SELECT count(*) FROM follows").fetchone()[0]

    def _befriend(self, a: str, b: str, cap: int) -> str:
        if a == b:
            return "declined"
        if self.are_friends(a, b):
            return "already_friends"
        if self.friend_count(a) >= cap or self.friend_count(b) >= cap:
            return "cap_reached"
        self._run("INSERT INTO friendships VALUES (?, ?), (?, ?)", (a, b, b, a))
        return "formed"

    def are_friends(self, a: str, b: str) -> bool:
        return (
            self._run("SELECT 1 FROM friendships WHERE agent_id = ? AND friend_id = ?", (a, b)).fetchone() is not None
        )

    def friend_count(self, agent_id: str) -> int:
        return self._run("SELECT count(*) FROM friendships WHERE agent_id = ?", (agent_id,)).fetchone()[0]

    def friends(self, agent_id: str) -> list[str]:
        rows = self._run("SELECT friend_id FROM friendships WHERE agent_id = ? ORDER BY friend_id", (agent_id,))
        return [row[0] for row in rows.fetchall()]

    def counts(self) -> tuple[int, int]:
        """(nodes, interaction edges)."""
        nodes = self._run("SELECT count(*) FROM nodes").fetchone()[0]
        edges = self._run("SELECT count(*) FROM edges").fetchone()[0]
        return nodes, edges

    def processed_count(self) -> int:
        """Responses recorded (each once)."""
        return self._run("SELECT count(*) FROM processed_events").fetchone()[0]

    def most_friends(self) -> int:
        """The most friends any agent has (what the cap bounds)."""
        sql = "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM friendships GROUP BY agent_id) counts"
        return self._run(sql).fetchone()[0]

    def one_sided_friendships(self) -> int:
        """Friendship rows whose other direction is missing (0 in a sound graph)."""
        sql = (
            "SELECT count(*) FROM friendships f WHERE NOT EXISTS "
            "(SELECT 1 FROM friendships g WHERE g.agent_id = f.friend_id AND g.friend_id = f.agent_id)"
        )
        return self._run(sql).fetchone()[0]

    def friendship_count(self) -> int:
        """Mutual friendships (each pair once)."""
        return self._run("SELECT count(*) FROM friendships").fetchone()[0] // 2

    def weight(self, src: str, dst: str) -> int:
        row = self._run("SELECT weight FROM edges WHERE src = ? AND dst = ?", (src, dst)).fetchone()
        return row[0] if row else 0

    def partners(self, agent_id: str) -> list[str]:
        """Agents ``agent_id`` talked to or was talked to by."""
        rows = self._run(
            "SELECT dst FROM edges WHERE src = ? UNION SELECT src FROM edges WHERE dst = ? ORDER BY 1",
            (agent_id, agent_id),
        )
        return [row[0] for row in rows.fetchall()]

    def interaction_edges(self) -> list[tuple[str, str, int]]:
        """(speaker, addressee, interactions)."""
        return self._run("SELECT src, dst, weight FROM edges").fetchall()

    def friend_pairs(self) -> list[tuple[str, str]]:
        """Each friendship once."""
        return self._run("SELECT agent_id, friend_id FROM friendships WHERE agent_id < friend_id").fetchall()

    def round_edges(self, run_id: str) -> list[tuple[str, str, str, int]]:
        """(src, dst, kind, round) of every edge run ``run_id`` made first, by the round it first appeared in."""
        return self._run("SELECT src, dst, kind, round FROM edge_rounds WHERE run_id = ?", (run_id,)).fetchall()

    def save_communities(self, membership: dict[str, str]) -> None:
        """Replace the stored communities with ``membership`` (agent id -> community)."""
        with self._transaction():
            self._run("DELETE FROM communities")
            self._run_many("INSERT INTO communities VALUES (?, ?)", sorted(membership.items()))

    def membership(self) -> dict[str, str]:
        """The latest detection's community of each agent it placed."""
        return dict(self._run("SELECT agent_id, community FROM communities").fetchall())

    def community_sizes(self) -> dict[str, int]:
        rows = self._run("SELECT community, count(*) FROM communities GROUP BY community").fetchall()
        return dict(sorted(rows, key=lambda row: (-row[1], row[0])))

    def snapshot(self) -> dict[str, list[tuple]]:
        """Every table's rows, sorted: two stores fed the same events compare equal."""
        return {name: sorted(self._run(f"SELECT * FROM {name}").fetchall()) for name in _TABLES}

    def close(self) -> None:
        self.db.close()
