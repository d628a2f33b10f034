"""The social-graph consumer: who talked to whom, recorded once per interaction."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from aiokafka import ConsumerRecord

from consumers.runner import consume_batches
from swarmstream import codec
from swarmstream.events import InteractionResponded
from swarmstream.settings import Settings

_SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (event_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nodes (agent_id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS edges (
    src TEXT NOT NULL, dst TEXT NOT NULL, weight INTEGER NOT NULL,
    PRIMARY KEY (src, dst)
) WITHOUT ROWID;
"""


class GraphStore:
    """Interaction edges in SQLite; each event counts once, however often it is delivered."""

    def __init__(self, path: str | Path):
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def add_interactions(self, responses: Sequence[InteractionResponded]) -> int:
        """Record a batch in one transaction; returns how many were new."""
        added = 0
        with self.db:
            for response in responses:
                fresh = self.db.execute(
                    "INSERT OR IGNORE INTO processed_events VALUES (?)", (response.event_id,)
                ).rowcount
                if not fresh or response.target_agent_id is None:
                    continue
                added += 1
                src, dst = response.agent_id, response.target_agent_id
                self.db.executemany("INSERT OR IGNORE INTO nodes VALUES (?)", ((src,), (dst,)))
                self.db.execute(
                    "INSERT INTO edges VALUES (?, ?, 1) ON CONFLICT (src, dst) DO UPDATE SET weight = weight + 1",
                    (src, dst),
                )
        return added

    def counts(self) -> tuple[int, int]:
        """(nodes, edges)."""
        nodes = self.db.execute("SELECT count(*) FROM nodes").fetchone()[0]
        edges = self.db.execute("SELECT count(*) FROM edges").fetchone()[0]
        return nodes, edges

    def weight(self, src: str, dst: str) -> int:
        row = self.db.execute("SELECT weight FROM edges WHERE src = ? AND dst = ?", (src, dst)).fetchone()
        return row[0] if row else 0

    def close(self) -> None:
        self.db.close()


class GraphConsumer:
    group_id_suffix = "graph"

    def __init__(self, settings: Settings, store: GraphStore | None = None):
        self.settings = settings
        self.store = store or GraphStore(settings.graph_db_path)

    @property
    def group_id(self) -> str:
        return f"{self.settings.app_id}-{self.group_id_suffix}"

    async def handle(self, records: Sequence[ConsumerRecord]) -> None:
        responses = []
        for record in records:
            try:
                responses.append(codec.decode(record.value, InteractionResponded))
            except codec.DecodeError:
                continue  # only workers write this topic; the metrics consumer counts strays
        self.store.add_interactions(responses)

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        await consume_batches(self.settings, [self.settings.responses_topic], self.group_id, self.handle, stop, ready)
