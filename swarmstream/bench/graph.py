"""``swarmstream bench graph``: interaction edges into the graph store, in the graph consumer's transactions.

The records are encoded responses, decoded and applied exactly as the consumer's ``handle`` does,
minus Kafka. Random pairs among ``agents``, so the edges table grows as a real society's would.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from consumers.graph import TRANSACTION_RECORDS
from consumers.graph_store import GraphStore
from swarmstream import codec
from swarmstream.bench.result import BenchResult
from swarmstream.events import InteractionResponded, derived_id
from swarmstream.progress import progress_bar
from swarmstream.topic_values import RESPONSES

BATCH = TRANSACTION_RECORDS  # the graph consumer's transaction


def encoded_responses(count: int, agents: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    template = InteractionResponded(
        agent_id="a", content="Hello there, nice to meet you.", model="sim", prompt_tokens=60,
        completion_tokens=9, llm_latency_ms=101.5, llm_inflight=120, request_created_at=time.time(),
    )  # fmt: skip
    return [
        codec.encode(
            template.model_copy(
                update={
                    "event_id": derived_id("bench.graph", seed, n),
                    "agent_id": f"agent-{rng.randrange(agents):07d}",
                    "target_agent_id": f"agent-{rng.randrange(agents):07d}",
                }
            )
        )
        for n in range(count)
    ]


def bench_graph(updates: int, agents: int, seed: int, dsn: str | None, show_progress: bool) -> BenchResult:
    records = encoded_responses(updates, agents, seed)
    with tempfile.TemporaryDirectory(prefix="swarmstream-bench-graph-") as scratch:
        store = GraphStore(dsn=dsn) if dsn else GraphStore(Path(scratch) / "graph.sqlite3")
        decode_s = store_s = 0.0
        with progress_bar(updates, "edge updates", show_progress, "edges") as bar:
            for start in range(0, updates, BATCH):
                began = time.perf_counter()
                batch = [RESPONSES.decode(value, fast=True) for value in records[start : start + BATCH]]
                decoded = time.perf_counter()
                store.apply(batch, max_friends=10)
                store_s += time.perf_counter() - decoded
                decode_s += decoded - began
                bar.update(len(batch))
        nodes, edges = store.counts()
        size = sum(f.stat().st_size for f in Path(scratch).glob("graph.sqlite3*"))
        store.close()
    total = decode_s + store_s
    where = "PostgreSQL" if dsn else f"SQLite ({size / 2**20:.0f} MiB on disk)"
    figures = {
        "updates": updates, "agents": agents, "batch": BATCH, "store": "postgresql" if dsn else "sqlite",
        "sqlite_bytes": None if dsn else size, "decode_store_per_s": updates / total, "decode_store_s": total,
        "store_per_s": updates / store_s, "store_s": store_s, "nodes": nodes, "edges": edges,
    }  # fmt: skip
    return BenchResult(
        "graph",
        figures,
        [
            f"swarmstream bench graph: {updates:,} interaction responses among {agents:,} agents, "
            f"batches of {BATCH:,}, {where}",
            f"  decode + store  {updates / total:>10,.0f} edge updates/s  ({total:.1f} s)",
            f"  store alone     {updates / store_s:>10,.0f} edge updates/s  ({store_s:.1f} s)",
            f"  graph           {nodes:,} nodes, {edges:,} weighted edges",
        ],
    )
