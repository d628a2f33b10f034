"""``swarmstream graph``: queries on a store, and detection published to the real broker."""

from __future__ import annotations

import subprocess
import sys

import pytest

from consumers.graph_store import GraphStore
from swarmstream.events import CommunityDetected
from tests.consumers.test_graph_store import response
from tests.pipeline import read_topic

pytestmark = pytest.mark.integration


def swarmstream(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "swarmstream", *argv], capture_output=True, text=True, timeout=120, env=env
    )


async def test_detect_saves_and_publishes_the_communities(settings, tmp_path):
    import os

    db = tmp_path / "g.sqlite3"
    store = GraphStore(db)
    store.apply(
        [response(f"{g}{i}{j}", f"{g}{i}", f"{g}{j}") for g in "xy" for i in range(4) for j in range(4) if i != j],
        max_friends=10,
    )
    store.close()
    env = {**os.environ, **settings.to_env()}

    detected = swarmstream("graph", "--db", str(db), "detect", "--publish", env=env)
    assert detected.returncode == 0, detected.stderr
    assert detected.stdout.startswith("2 communities")
    stats = swarmstream("graph", "--db", str(db), "stats", env=env)
    assert "communities          2 (detected-" in stats.stdout

    events = [event for _, _, event in await read_topic(settings, settings.communities_topic, CommunityDetected)]
    assert sorted(len(e.members) for e in events) == [4, 4]
    assert {m for e in events for m in e.members} == {f"{g}{i}" for g in "xy" for i in range(4)}

    missing = swarmstream("graph", "--db", str(tmp_path / "none.sqlite3"), "stats", env=env)
    assert missing.returncode == 1 and "no graph store" in missing.stderr
