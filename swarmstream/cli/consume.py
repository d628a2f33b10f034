"""``swarmstream consume``: the downstream consumers (graph, metrics) and the outcome follower."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from swarmstream.cli.parsing import connection_options, settings_from
from swarmstream.runtime.lifeline import stop_on_signals


def register(commands: argparse._SubParsersAction) -> None:
    consume = commands.add_parser("consume", help="run a downstream consumer")
    which = consume.add_subparsers(dest="what", required=True)
    graph = which.add_parser("graph", help="build the social graph (SQLite, or PostgreSQL: SWARMSTREAM_GRAPH_DSN)")
    graph.add_argument("--db", help="SQLite path (default SWARMSTREAM_GRAPH_DB_PATH)")
    graph.add_argument("--host", help="bind /metrics here (default SWARMSTREAM_METRICS_HOST)")
    graph.add_argument("--port", type=int, help="serve /metrics (default SWARMSTREAM_GRAPH_METRICS_PORT, else none)")
    connection_options(graph)
    graph.set_defaults(func=lambda args: asyncio.run(_serve(args, _graph_consumer)))
    metrics = which.add_parser("metrics", help="serve Prometheus metrics and /summary of the response stream")
    metrics.add_argument("--host", help="bind here (default SWARMSTREAM_METRICS_HOST)")
    metrics.add_argument("--port", type=int, help="default SWARMSTREAM_METRICS_PORT")
    connection_options(metrics)
    metrics.set_defaults(func=lambda args: asyncio.run(_serve(args, _metrics_consumer)))
    follow = which.add_parser("interactions", help="print the outcome streams: responses and dead letters")
    follow.add_argument("--agent", help="only this agent's outcomes")
    follow.add_argument("--request-id", help="only this request's outcomes")
    follow.add_argument("--format", choices=["json", "text"], default="json")
    follow.add_argument("--from-beginning", action="store_true")
    follow.add_argument("--limit", type=int, help="stop after this many outcomes")
    follow.add_argument(
        "--until-idle", type=float, metavar="SECONDS", help="stop once no record has come for this many seconds"
    )
    connection_options(follow)
    follow.set_defaults(func=lambda args: asyncio.run(_follow(args)))


def _graph_consumer(args: argparse.Namespace) -> tuple[Any, int | None, str]:
    from consumers.graph import GraphConsumer

    settings = settings_from(args, **({"graph_db_path": str(Path(args.db).resolve())} if args.db else {}))
    port = args.port if args.port is not None else settings.graph_metrics_port
    return GraphConsumer(settings), port, args.host or settings.metrics_host


def _metrics_consumer(args: argparse.Namespace) -> tuple[Any, int | None, str]:
    from consumers.metrics import MetricsConsumer

    settings = settings_from(args)
    port = args.port if args.port is not None else settings.metrics_port
    return MetricsConsumer(settings), port, args.host or settings.metrics_host


async def _serve(args: argparse.Namespace, make: Any) -> int:
    """Run the consumer ``make`` builds, with its ``/metrics`` where it has a port, until SIGINT/SIGTERM."""
    stop = asyncio.Event()
    stop_on_signals(lambda _: stop.set())
    consumer, port, host = make(args)
    runner = None
    if port is not None:
        runner = await consumer.serve_metrics(host, port)
        print(f"metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)
    try:
        await consumer.run(stop)
    finally:
        if runner is not None:
            await runner.cleanup()
    return 0


async def _follow(args: argparse.Namespace) -> int:
    from consumers.interactions import follow_interactions

    stop = asyncio.Event()
    stop_on_signals(lambda _: stop.set())
    await follow_interactions(
        settings_from(args), stop, agent=args.agent, request_id=args.request_id, text=args.format == "text",
        from_beginning=args.from_beginning, limit=args.limit, until_idle_s=args.until_idle, out=sys.stdout,
    )  # fmt: skip
    return 0
