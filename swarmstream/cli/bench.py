"""``swarmstream bench``: benchmarks that print their figures (or JSON)."""

from __future__ import annotations

import argparse
import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from swarmstream.bench.result import BenchResult
from swarmstream.cli.parsing import connection_options, json_option, settings_from
from swarmstream.cli.simulator_options import add_simulator_options, simulator_argv


def register(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="benchmarks that print numbers")
    benches = bench.add_subparsers(dest="bench", required=True)
    bench_json = json_option("print the figures as JSON on stdout")
    bench_llm = benches.add_parser(
        "llm", help="one pinned worker end to end vs the bare LLM client", parents=[bench_json]
    )
    bench_llm.add_argument("--requests", type=int, default=30_000)
    bench_llm.add_argument("--agents", type=int, default=1_000)
    bench_llm.add_argument("--seed", type=int, default=7)
    bench_llm.add_argument(
        "--batch-size", type=int, help="requests per record (default SWARMSTREAM_REQUEST_BATCH_SIZE, 100); 1: one each"
    )
    connection_options(bench_llm, llm=True)
    add_simulator_options(bench_llm)
    _runs(bench_llm, _llm)
    bench_rate = benches.add_parser(
        "ratelimit", help="the engine against a simulator enforcing RPM/TPM limits", parents=[bench_json]
    )
    bench_rate.add_argument("--rpm", type=float, default=6_000)
    bench_rate.add_argument("--tpm", type=float, default=600_000)
    bench_rate.add_argument("--duration", type=float, default=150, help="seconds")
    bench_rate.add_argument("--max-concurrent", type=int, help="LLM calls in flight")
    bench_rate.add_argument(
        "--workers", type=int, help="worker processes of one group sharing the limits (default: the engine alone)"
    )
    _runs(bench_rate, _ratelimit)
    bench_pool = benches.add_parser(
        "pool",
        help="the engine over four simulators of different speeds and limits, one killed mid-run",
        parents=[bench_json],
    )
    bench_pool.add_argument("--duration", type=float, default=90, help="seconds, in three phases")
    bench_pool.add_argument("--cooldown", type=float, default=5, help="seconds an ejected endpoint waits for its probe")
    bench_pool.add_argument("--max-concurrent", type=int, help="LLM calls in flight (default 256)")
    _runs(bench_pool, _pool)
    bench_scale = benches.add_parser(
        "scale", help="the same load through 1, 2, 4, ... workers of one group", parents=[bench_json]
    )
    bench_scale.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default %(default)s)")
    bench_scale.add_argument("--requests", type=int, default=20_000, help="requests per group (default %(default)s)")
    bench_scale.add_argument("--agents", type=int, default=1_000)
    bench_scale.add_argument("--seed", type=int, default=7)
    _runs(bench_scale, _scale)
    bench_agents = benches.add_parser(
        "agents", help="a society into one worker's table, then a restart", parents=[bench_json]
    )
    bench_agents.add_argument("--count", type=int, default=1_000_000)
    bench_agents.add_argument("--seed", type=int, default=7)
    bench_agents.add_argument("--batch-size", type=int, help="agents per bulk-creation event (default 500)")
    bench_agents.add_argument("--quiet", action="store_true", help="no progress bars")
    connection_options(bench_agents)
    _runs(bench_agents, _agents)
    bench_import = benches.add_parser(
        "import", help="a population file imported (swarmstream import agents): time, peak RSS", parents=[bench_json]
    )
    bench_import.add_argument("--agents", type=int, default=1_000_000)
    bench_import.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    bench_import.add_argument("--seed", type=int, default=7)
    bench_import.add_argument("--keep", type=Path, metavar="FILE", help="write the population file here, and keep it")
    bench_import.add_argument("--quiet", action="store_true", help="no progress bar")
    connection_options(bench_import)
    _runs(bench_import, _import)
    bench_graph = benches.add_parser(
        "graph", help="interaction edges into the graph store (SQLite, or --dsn)", parents=[bench_json]
    )
    bench_graph.add_argument("--updates", type=int, default=1_000_000)
    bench_graph.add_argument("--agents", type=int, default=100_000)
    bench_graph.add_argument("--seed", type=int, default=7)
    bench_graph.add_argument("--dsn", help="PostgreSQL DSN instead of a scratch SQLite file")
    bench_graph.add_argument("--quiet", action="store_true", help="no progress bar")
    _runs(bench_graph, _graph)
    bench_comm = benches.add_parser(
        "communities", help="Louvain community detection on a planted society", parents=[bench_json]
    )
    bench_comm.add_argument("--nodes", type=int, default=1_000_000)
    bench_comm.add_argument("--edges", type=int, default=5_000_000)
    bench_comm.add_argument("--community-size", type=int, default=1_000)
    bench_comm.add_argument("--seed", type=int, default=7)
    bench_comm.add_argument(
        "--method", action="append", choices=["louvain", "leiden"], help="repeatable (default: both, side by side)"
    )
    _runs(bench_comm, _communities)


def _runs(parser: argparse.ArgumentParser, bench: Callable[[argparse.Namespace], BenchResult]) -> None:
    """The bench's handler: run it, print its figures (``--json``: as JSON)."""

    def run(args: argparse.Namespace) -> int:
        report = bench(args)
        print(report.to_json() if args.json else report.render())
        return 0

    parser.set_defaults(func=run)


def _llm(args: argparse.Namespace) -> BenchResult:
    from swarmstream.bench.llm import DEFAULT_MAX_CONCURRENT, bench_llm

    settings = settings_from(args, standing=False)
    if args.max_concurrent is None and "SWARMSTREAM_MAX_CONCURRENT" not in os.environ:
        settings = settings.model_copy(update={"max_concurrent": DEFAULT_MAX_CONCURRENT})
    if args.batch_size:
        settings = settings.model_copy(update={"request_batch_size": args.batch_size})
    return asyncio.run(bench_llm(settings, args.requests, args.agents, args.seed, simulator_argv(args)))


def _graph(args: argparse.Namespace) -> BenchResult:
    from swarmstream.bench.graph import bench_graph

    return bench_graph(args.updates, args.agents, args.seed, args.dsn, not args.quiet)


def _communities(args: argparse.Namespace) -> BenchResult:
    from swarmstream.bench.communities import bench_communities

    methods = tuple(args.method or ("louvain", "leiden"))
    return bench_communities(args.nodes, args.edges, args.community_size, args.seed, methods)


def _agents(args: argparse.Namespace) -> BenchResult:
    from swarmstream.bench.agents import bench_agents

    overrides = {"agent_batch_size": args.batch_size} if args.batch_size else {}
    return asyncio.run(
        bench_agents(settings_from(args, standing=False, **overrides), args.count, args.seed, not args.quiet)
    )


def _import(args: argparse.Namespace) -> BenchResult:
    from swarmstream.bench.population import bench_import

    # The stack that is up, if any: its workers register what is imported.
    settings = settings_from(args)
    keep = args.keep.resolve() if args.keep else None
    return asyncio.run(bench_import(settings, args.agents, args.format, args.seed, keep, not args.quiet))


def _scale(args: argparse.Namespace) -> BenchResult:
    from swarmstream.bench.scale import bench_scale

    try:
        counts = [int(part) for part in args.workers.split(",")]
    except ValueError:
        raise ValueError(f"--workers takes counts such as 1,2,4,8, not {args.workers!r}") from None
    return asyncio.run(
        bench_scale(settings_from(args, standing=False), counts, args.requests, args.agents, args.seed)
    ).result()


def _pool(args: argparse.Namespace) -> BenchResult:
    from swarmstream.bench.pool import bench_pool

    settings = settings_from(args, standing=False)
    work_dir = Path(settings.data_dir) / "bench-pool"
    return asyncio.run(bench_pool(settings, args.duration, args.cooldown, work_dir))


def _ratelimit(args: argparse.Namespace) -> BenchResult:
    from swarmstream.bench.ratelimit import bench_group_ratelimit, bench_ratelimit

    if args.workers is not None:
        result = asyncio.run(
            bench_group_ratelimit(settings_from(args, standing=False), args.workers, args.rpm, args.tpm, args.duration)
        )
        return result.result()
    return asyncio.run(bench_ratelimit(settings_from(args, standing=False), args.rpm, args.tpm, args.duration))
