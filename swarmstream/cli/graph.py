"""``swarmstream graph``: query the social graph's store (stats, neighbors, detect, plot, export)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from swarmstream.cli.parsing import connection_options, settings_from
from swarmstream.runtime.lifeline import stop_on_signals
from swarmstream.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
    graph = commands.add_parser("graph", help="query the social graph's store")
    graph.add_argument(
        "--db", help="SQLite file (default SWARMSTREAM_GRAPH_DB_PATH; SWARMSTREAM_GRAPH_DSN for PostgreSQL)"
    )
    queries = graph.add_subparsers(dest="query", required=True)
    stats = queries.add_parser(
        "stats", help="nodes, edges, friendships, degrees, components, communities (a run's: follows, cascades too)"
    )
    stats.add_argument("--json", action="store_true")
    stats.add_argument(
        "--run",
        metavar="RUN_ID",
        help="the graph at the end of each round of this society run (its store, unless --db names one), and from "
        "its record its follows (reciprocity, followers per agent) and largest cascades",
    )
    _queries(stats, _stats)
    neighbors = queries.add_parser("neighbors", help="an agent's friends and who it talked with")
    neighbors.add_argument("agent")
    neighbors.add_argument("--json", action="store_true")
    _queries(neighbors, _neighbors)
    detect = queries.add_parser("detect", help="detect communities (Leiden or Louvain) and save them in the store")
    detect.add_argument("--publish", action="store_true", help="also publish them to {prefix}.communities")
    detect.add_argument("--every", type=float, help="repeat every this many seconds, until Ctrl-C")
    detect.add_argument("--method", choices=["leiden", "louvain"], default="leiden", help="default %(default)s")
    connection_options(detect)
    _queries(detect, _detect)
    plot = queries.add_parser("plot", help="PNG of the degree distribution and community sizes")
    plot.add_argument("--out", type=Path, default=Path("graph.png"))
    _queries(plot, _plot)
    export = queries.add_parser(
        "export", help="write the edges (and a nodes file: every agent, those without edges too) to a file"
    )
    export.add_argument("--format", choices=["csv", "graphml", "parquet"], default="csv")
    export.add_argument("--out", type=Path, required=True)
    export.add_argument(
        "--run",
        metavar="RUN_ID",
        help="this society run's graph (its store, unless --db names one): edges with their round, its agents as nodes",
    )
    _queries(export, _export)


Query = Callable[[argparse.Namespace, Any, Settings], None]


def _queries(parser: argparse.ArgumentParser, query: Query) -> None:
    """The query's handler: it runs on the store the command names (``--db``, ``--run``, the settings)."""

    def run(args: argparse.Namespace) -> int:
        from consumers import graph_report
        from consumers.graph import open_store

        settings = graph_report.query_settings(settings_from(args), args.db, getattr(args, "run", None))
        store = open_store(settings)
        try:
            query(args, store, settings)
        finally:
            store.close()
        return 0

    parser.set_defaults(func=run)


def _stats(args: argparse.Namespace, store: Any, settings: Settings) -> None:
    from consumers import graph_report

    if args.run is None:
        result = graph_report.graph_stats(store)
        print(json.dumps(result.to_dict(), indent=2) if args.json else result.render())
        return
    from consumers.record_files import RecordFiles
    from consumers.society_stats import society_stats

    rounds = graph_report.graph_by_round(store, args.run)
    record = RecordFiles(settings.run_dir(args.run) / "record")
    society = society_stats(record.tables()) if record.exists() else None
    if not rounds and society is None:
        raise ValueError(f"run {args.run!r} made no edges in {settings.graph_db_path} and has no record")
    if args.json:
        found = {"run_id": args.run, "rounds": [r.to_dict() for r in rounds]}
        print(json.dumps({**found, "society": society.to_dict() if society else None}, indent=2))
        return
    print(graph_report.render_by_round(args.run, rounds) if rounds else f"run {args.run}: no friendship edges")
    if society is not None:
        print(society.render())


def _neighbors(args: argparse.Namespace, store: Any, settings: Settings) -> None:
    from consumers import graph_report

    found = graph_report.neighbors(store, args.agent)
    print(json.dumps(asdict(found), indent=2) if args.json else found.render())


def _plot(args: argparse.Namespace, store: Any, settings: Settings) -> None:
    from consumers import graph_report

    graph_report.plot(store, args.out)
    print(f"wrote {args.out}", file=sys.stderr)


def _export(args: argparse.Namespace, store: Any, settings: Settings) -> None:
    from consumers import graph_report
    from consumers.record_files import RecordFiles

    agents = None
    if args.run is not None:
        record = RecordFiles(settings.run_dir(args.run) / "record")
        if record.exists():
            table = record.tables()["agents"]
            agents = dict(zip(table["agent_id"].to_pylist(), table["community"].to_pylist(), strict=True))
    written, nodes = graph_report.export(store, args.format, args.out, args.run, agents)
    print(f"wrote {written:,} edges to {args.out}" + (f", the nodes to {nodes}" if nodes else ""), file=sys.stderr)


def _detect(args: argparse.Namespace, store: Any, settings: Settings) -> None:
    asyncio.run(_detect_loop(store, settings if args.publish else None, args.every, args.method))


async def _detect_loop(store: Any, publish_to: Settings | None, every_s: float | None, method: str) -> None:
    """Detect (and publish) once, or every ``every_s`` seconds until SIGINT/SIGTERM."""
    from consumers.communities import Detection, detect_and_publish

    def report(found: Detection, sent: int | None) -> None:
        print(
            f"{len(found.sizes):,} communities, modularity {found.modularity:.3f}, largest {found.sizes[:5]} "
            f"({found.build_s + found.detect_s:.1f} s)",
            flush=True,
        )
        if sent is not None:
            print(f"published {sent:,} events to {publish_to.communities_topic}", file=sys.stderr)  # type: ignore[union-attr]

    stop = asyncio.Event()
    stop_on_signals(lambda _: stop.set())
    await detect_and_publish(store, publish_to, every_s, method, stop, report)
