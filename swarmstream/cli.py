"""The ``swarmstream`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections import Counter
from dataclasses import asdict
from importlib.metadata import version as package_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from swarmstream.events import BROADCAST_AUTHOR
from swarmstream.patches import versions
from swarmstream.runtime.lifeline import stop_on_signals
from swarmstream.runtime.loop import tune_gc
from swarmstream.settings import Settings

if TYPE_CHECKING:
    from swarmstream.llm.simulator import SimulatorConfig


def _connection_options(parser: argparse.ArgumentParser, llm: bool = False) -> None:
    """Kafka's options on every command that reads or writes topics; the LLM's only where ``llm`` (it calls one)."""
    group = parser.add_argument_group("connections (default: SWARMSTREAM_* env, else embedded services)")
    group.add_argument("--bootstrap-servers", help="Kafka bootstrap servers, host:port[,host:port]")
    group.add_argument("--partitions", type=int, help="partitions per topic (co-partitioned topics share it)")
    group.add_argument("--topic-prefix", help="prefix of every topic name")
    if llm:
        group.add_argument("--llm-base-url", help="OpenAI-compatible base URL (key from SWARMSTREAM_LLM_API_KEY)")
        group.add_argument("--llm-model", help="model name sent to the endpoint")
        group.add_argument("--max-concurrent", type=int, help="LLM calls in flight per worker")


# The simulator's options, shared by `llm-sim` and `demo` (which passes them to its simulator).
_SIMULATOR_OPTIONS: list[tuple[str, dict[str, Any]]] = [
    ("--latency", {"choices": ["fixed", "uniform", "lognormal"], "default": "fixed"}),
    ("--latency-ms", {"type": float, "default": 100.0, "help": "fixed value, or mean for lognormal"}),
    ("--latency-min-ms", {"type": float, "default": 0.0}),
    ("--latency-max-ms", {"type": float, "default": 60_000.0}),
    ("--latency-sigma", {"type": float, "default": 0.5, "help": "lognormal shape"}),
    ("--sim-seed", {"type": int, "default": 0}),
    ("--sim-rpm", {"type": float, "help": "requests per minute before answering 429"}),
    ("--sim-tpm", {"type": float, "help": "tokens per minute before answering 429"}),
    ("--sim-burst-s", {"type": float, "default": 1.0, "help": "seconds of budget the limits save up"}),
    ("--fault-429", {"type": float, "default": 0.0, "help": "fraction of calls answered 429"}),
    ("--fault-5xx", {"type": float, "default": 0.0, "help": "fraction answered 500/502/503"}),
    ("--fault-timeout", {"type": float, "default": 0.0, "help": "fraction that hang for --hang-s"}),
    ("--fault-malformed", {"type": float, "default": 0.0, "help": "fraction answered with a broken body"}),
    ("--fault-reset", {"type": float, "default": 0.0, "help": "fraction whose connection is reset"}),
    ("--hang-s", {"type": float, "default": 60.0}),
]


def _simulator_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("LLM simulator")
    for flag, options in _SIMULATOR_OPTIONS:
        group.add_argument(flag, **options)


def _simulator_argv(args: argparse.Namespace) -> list[str]:
    argv = []
    for flag, _ in _SIMULATOR_OPTIONS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value is not None:
            argv += [flag, str(value)]
    return argv


def simulator_config(args: argparse.Namespace) -> SimulatorConfig:
    from swarmstream.llm.simulator import FaultRates, LatencyModel, RateLimits, SimulatorConfig

    return SimulatorConfig(
        latency=LatencyModel(
            kind=args.latency,
            mean_ms=args.latency_ms,
            min_ms=args.latency_min_ms,
            max_ms=args.latency_max_ms,
            sigma=args.latency_sigma,
        ),
        seed=args.sim_seed,
        limits=RateLimits(rpm=args.sim_rpm, tpm=args.sim_tpm, burst_s=args.sim_burst_s),
        faults=FaultRates(
            rate_limit=args.fault_429,
            server_error=args.fault_5xx,
            timeout=args.fault_timeout,
            malformed=args.fault_malformed,
            reset=args.fault_reset,
            hang_s=args.hang_s,
        ),
    )


class _DefaultsShown(argparse.HelpFormatter):
    """An option's help ends with its default, where it has one worth saying (not None, not a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help = action.help
        shown = action.option_strings and action.default not in (None, False, argparse.SUPPRESS)
        if help and shown and "%(default)" not in help:
            help += " (default: %(default)s)"
        return help


class _Parser(argparse.ArgumentParser):
    """Every command's help shows its options' defaults (subcommands are made of the same class)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsShown)
        super().__init__(**kwargs)


def _version() -> str:
    tested = ", ".join(f"{name} {tested}" for name, tested in sorted(versions.TESTED.items()))
    return f"swarmstream {package_version('swarmstream')} (tested with {tested})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="swarmstream", description="LLM agent societies on Kafka.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a whole society end to end and print a summary")
    demo.add_argument("--agents", type=int, default=1_000, help="agents to create")
    demo.add_argument("--interactions", type=int, default=1_000, help="interactions to request")
    demo.add_argument("--seed", type=int, default=7, help="seed of the society and its requests")
    demo.add_argument("--workers", type=int, default=1, help="stream worker processes")
    demo.add_argument("--timeout", type=float, help="seconds to wait for each stage")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    _connection_options(demo, llm=True)
    _simulator_options(demo)

    sim_run = commands.add_parser("simulate", help="a society in rounds: agents read their feeds and act")
    sim_run.add_argument("--agents", type=int, default=1_000)
    sim_run.add_argument("--rounds", type=int, default=3)
    sim_run.add_argument("--active", type=float, default=0.2, help="fraction of the agents acting each round")
    sim_run.add_argument("--turns", type=int, default=4, help="turns of the conversation a message opens, at most")
    sim_run.add_argument("--seed", type=int, default=7)
    sim_run.add_argument("--budget-usd", type=float, help="start no round that would take the estimated cost past this")
    sim_run.add_argument("--resume", metavar="RUN_ID", help="continue this run at its first incomplete round")
    sim_run.add_argument("--workers", type=int, default=1, help="stream workers, where it starts the broker")
    sim_run.add_argument("--json", action="store_true", help="print the rounds as JSON")
    sim_run.add_argument("--quiet", action="store_true", help="no progress bars")
    _connection_options(sim_run, llm=True)

    broker = commands.add_parser("broker", help="run the embedded Kafka-protocol broker (Tansu)")
    broker.add_argument("--host", default="127.0.0.1")
    broker.add_argument("--port", type=int, default=9092)

    topics = commands.add_parser("topics", help="create the pipeline's topics with their configs (idempotent)")
    topics.add_argument(
        "--check", action="store_true", help="create nothing: report topics that are missing or differ, and the fixes"
    )
    topics.add_argument("--json", action="store_true", help="print the topics and their problems as JSON on stdout")
    topics.add_argument(
        "--workers", type=int, help="stream workers you mean to run: warns when the partitions are fewer"
    )
    topics.add_argument(
        "--copy-agents-from",
        metavar="PREFIX",
        help="copy that prefix's agents topic (the society's history) into this prefix's, split by its partitions",
    )
    _connection_options(topics)

    sim = commands.add_parser("llm-sim", help="run the OpenAI-compatible LLM simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8000)
    _simulator_options(sim)

    bench = commands.add_parser("bench", help="benchmarks that print numbers")
    benches = bench.add_subparsers(dest="bench", required=True)
    bench_json = _Parser(add_help=False)
    bench_json.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    bench_llm = benches.add_parser(
        "llm", help="one pinned worker end to end vs the bare LLM client", parents=[bench_json]
    )
    bench_llm.add_argument("--requests", type=int, default=30_000)
    bench_llm.add_argument("--agents", type=int, default=1_000)
    bench_llm.add_argument("--seed", type=int, default=7)
    bench_llm.add_argument(
        "--batch-size", type=int, help="requests per record (default SWARMSTREAM_REQUEST_BATCH_SIZE, 100); 1: one each"
    )
    _connection_options(bench_llm, llm=True)
    _simulator_options(bench_llm)
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
    bench_scale = benches.add_parser(
        "scale", help="the same load through 1, 2, 4, ... workers of one group", parents=[bench_json]
    )
    bench_scale.add_argument("--workers", default="1,2", help="worker counts, comma-separated (default %(default)s)")
    bench_scale.add_argument("--requests", type=int, default=20_000, help="requests per group (default %(default)s)")
    bench_scale.add_argument("--agents", type=int, default=1_000)
    bench_scale.add_argument("--seed", type=int, default=7)
    bench_agents = benches.add_parser(
        "agents", help="a society into one worker's table, then a restart", parents=[bench_json]
    )
    bench_agents.add_argument("--count", type=int, default=1_000_000)
    bench_agents.add_argument("--seed", type=int, default=7)
    bench_agents.add_argument("--batch-size", type=int, help="agents per bulk-creation event (default 500)")
    bench_agents.add_argument("--quiet", action="store_true", help="no progress bars")
    _connection_options(bench_agents)
    bench_graph = benches.add_parser(
        "graph", help="interaction edges into the graph store (SQLite, or --dsn)", parents=[bench_json]
    )
    bench_graph.add_argument("--updates", type=int, default=1_000_000)
    bench_graph.add_argument("--agents", type=int, default=100_000)
    bench_graph.add_argument("--seed", type=int, default=7)
    bench_graph.add_argument("--dsn", help="PostgreSQL DSN instead of a scratch SQLite file")
    bench_graph.add_argument("--quiet", action="store_true", help="no progress bar")
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

    graph = commands.add_parser("graph", help="query the social graph's store")
    graph.add_argument(
        "--db", help="SQLite file (default SWARMSTREAM_GRAPH_DB_PATH; SWARMSTREAM_GRAPH_DSN for PostgreSQL)"
    )
    queries = graph.add_subparsers(dest="query", required=True)
    stats = queries.add_parser("stats", help="nodes, edges, friendships, degrees, components, communities")
    stats.add_argument("--json", action="store_true")
    stats.add_argument(
        "--run",
        metavar="RUN_ID",
        help="the graph at the end of each round of this society run (its store, unless --db names one)",
    )
    neighbors = queries.add_parser("neighbors", help="an agent's friends and who it talked with")
    neighbors.add_argument("agent")
    neighbors.add_argument("--json", action="store_true")
    detect = queries.add_parser("detect", help="detect communities (Leiden or Louvain) and save them in the store")
    detect.add_argument("--publish", action="store_true", help="also publish them to {prefix}.communities")
    detect.add_argument("--every", type=float, help="repeat every this many seconds, until Ctrl-C")
    detect.add_argument("--method", choices=["leiden", "louvain"], default="leiden", help="default %(default)s")
    _connection_options(detect)
    plot = queries.add_parser("plot", help="PNG of the degree distribution and community sizes")
    plot.add_argument("--out", type=Path, default=Path("graph.png"))
    export = queries.add_parser("export", help="write the edges and friendships to a file")
    export.add_argument("--format", choices=["csv", "graphml", "parquet"], default="csv")
    export.add_argument("--out", type=Path, required=True)

    worker = commands.add_parser("worker", help="run the faust stream processors")
    worker.add_argument("--loglevel", default="warning")
    _connection_options(worker, llm=True)

    produce = commands.add_parser("produce", help="publish events")
    what = produce.add_subparsers(dest="what", required=True)
    produce_json = _Parser(add_help=False)
    produce_json.add_argument("--json", action="store_true", help="print what was published as JSON on stdout")
    agents = what.add_parser("agents", help="seeded agent personas", parents=[produce_json])
    agents.add_argument("--count", type=int, required=True)
    agents.add_argument("--seed", type=int, default=7)
    agents.add_argument("--start", type=int, default=0, help="index of the first agent")
    agents.add_argument(
        "--batch-size",
        type=int,
        help="agents per bulk-creation event (grouped by partition; default SWARMSTREAM_AGENT_BATCH_SIZE, 500); "
        "1: one agent.created event per agent",
    )
    agents.add_argument("--quiet", action="store_true")
    _connection_options(agents)
    comm = what.add_parser(
        "communities", help="assign seeded agents to named communities (agent updates)", parents=[produce_json]
    )
    comm.add_argument("--names", required=True, help="comma-separated community names")
    comm.add_argument("--agents", type=int, required=True, help="agents agent-0000000 .. N-1 to assign")
    comm.add_argument("--max-members", type=int, default=1_000, help="members per community at most")
    comm.add_argument("--quiet", action="store_true")
    _connection_options(comm)
    inter = what.add_parser(
        "interactions", help="interaction requests, seeded or from a JSONL file", parents=[produce_json]
    )
    inter.add_argument("--count", type=int, help="how many seeded requests")
    inter.add_argument("--agents", type=int, help="size of the society to pick speakers from")
    inter.add_argument("--seed", type=int, default=7)
    inter.add_argument(
        "--file",
        type=Path,
        help="JSONL (- for standard input): agent_id, context[, target_agent_id, request_id, max_turns]",
    )
    inter.add_argument(
        "--max-turns", type=int, default=1, help="seeded requests open conversations of this many turns (1: none)"
    )
    inter.add_argument(
        "--batch-size",
        type=int,
        help="requests per bulk record (grouped by partition; default SWARMSTREAM_REQUEST_BATCH_SIZE, 100); "
        "1: one interaction.requested event per request",
    )
    inter.add_argument("--quiet", action="store_true")
    _connection_options(inter)
    cast = what.add_parser(
        "broadcast", help="an announcement in every agent's feed (or one community's)", parents=[produce_json]
    )
    cast.add_argument("text", help="what the announcement says (up to 2,000 characters)")
    cast.add_argument("--community", help="only this community's members read it (default: everyone)")
    cast.add_argument("--author", default=BROADCAST_AUTHOR, help="who it is from (default %(default)s)")
    cast.add_argument("--quiet", action="store_true")
    _connection_options(cast)

    chaos = commands.add_parser("chaos", help="faults injected into a running pipeline, every request accounted for")
    chaos.add_argument("--scenario", action="append", help="one of the scenarios (repeatable; default: all)")
    chaos.add_argument("--requests", type=int, default=20_000)
    chaos.add_argument("--agents", type=int, default=1_000)
    chaos.add_argument("--seed", type=int, default=7)
    chaos.add_argument("--json", action="store_true")

    dlq = commands.add_parser("dlq", help="the dead-letter topic: inspect by reason, replay the retryable")
    dlq_actions = dlq.add_subparsers(dest="action", required=True)
    inspect = dlq_actions.add_parser("inspect", help="dead letters by reason and source topic, with examples")
    inspect.add_argument("--json", action="store_true")
    inspect.add_argument("--samples", type=int, default=3, help="examples per reason")
    _connection_options(inspect)
    replay = dlq_actions.add_parser("replay", help="publish retryable dead letters' records again")
    replay.add_argument(
        "--reason", action="append", help="replay only this reason (repeatable; default: every retryable one)"
    )
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed, send nothing")
    _connection_options(replay)

    report = commands.add_parser(
        "report", help="summary.json, report.md and PNG plots of throughput and latency over a run's responses"
    )
    report.add_argument("--out", type=Path, default=Path("report"), help="directory to write (default ./report)")
    report.add_argument("--json", action="store_true", help="print the summary (summary.json's content) on stdout")
    _connection_options(report)

    consume = commands.add_parser("consume", help="run a downstream consumer")
    which = consume.add_subparsers(dest="what", required=True)
    graph = which.add_parser("graph", help="build the social graph (SQLite, or PostgreSQL: SWARMSTREAM_GRAPH_DSN)")
    graph.add_argument("--db", help="SQLite path (default SWARMSTREAM_GRAPH_DB_PATH)")
    graph.add_argument("--host", help="bind /metrics here (default SWARMSTREAM_METRICS_HOST)")
    graph.add_argument("--port", type=int, help="serve /metrics (default SWARMSTREAM_GRAPH_METRICS_PORT, else none)")
    _connection_options(graph)
    metrics = which.add_parser("metrics", help="serve Prometheus metrics and /summary of the response stream")
    metrics.add_argument("--host", help="bind here (default SWARMSTREAM_METRICS_HOST)")
    metrics.add_argument("--port", type=int, help="default SWARMSTREAM_METRICS_PORT")
    _connection_options(metrics)
    follow = which.add_parser("interactions", help="print the outcome streams: responses and dead letters")
    follow.add_argument("--agent", help="only this agent's outcomes")
    follow.add_argument("--request-id", help="only this request's outcomes")
    follow.add_argument("--format", choices=["json", "text"], default="json")
    follow.add_argument("--from-beginning", action="store_true")
    follow.add_argument("--limit", type=int, help="stop after this many outcomes")
    _connection_options(follow)
    return parser


def settings_from(args: argparse.Namespace, **extra: Any) -> Settings:
    """Environment settings overridden by the command line's connection options."""
    names = ("bootstrap_servers", "llm_base_url", "llm_model", "partitions", "topic_prefix", "max_concurrent")
    overrides = {name: getattr(args, name) for name in names if getattr(args, name, None) is not None}
    return Settings(**overrides, **extra)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_gc()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        # Before anything runs: the corrections of third-party internals fit only the tested versions.
        versions.check(Settings().allow_untested_versions)
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130
    except ValidationError as exc:
        # Without the input values: they may hold an API key or a password.
        problems = "\n".join(
            f"  {'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}" for error in exc.errors()
        )
        print(f"swarmstream: invalid settings:\n{problems}", file=sys.stderr)
        return 2
    except (RuntimeError, TimeoutError, ValueError, OSError) as exc:
        print(f"swarmstream: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return _demo(args)
    if args.command == "broker":
        return _broker(args)
    if args.command == "simulate":
        return asyncio.run(_simulate(args))
    if args.command == "llm-sim":
        return _llm_sim(args)
    if args.command == "bench":
        return _bench(args)
    if args.command == "topics":
        return asyncio.run(_topics(settings_from(args), args.check, args.workers, args.copy_agents_from, args.json))
    if args.command == "worker":
        from streams.worker import run_worker

        run_worker(settings_from(args), loglevel=args.loglevel)
        return 0
    if args.command == "produce":
        return asyncio.run(_produce(args))
    if args.command == "graph":
        return _graph(args)
    if args.command == "report":
        return asyncio.run(_report(args))
    if args.command == "dlq":
        return asyncio.run(_dlq(args))
    if args.command == "chaos":
        return asyncio.run(_chaos(args))
    return asyncio.run(_consume(args))


def _demo(args: argparse.Namespace) -> int:
    from swarmstream.demo import run_demo

    summary = asyncio.run(
        run_demo(
            settings_from(args),
            agents=args.agents,
            interactions=args.interactions,
            seed=args.seed,
            workers=args.workers,
            timeout_s=args.timeout,
            show_progress=not args.quiet,
            simulator_args=_simulator_argv(args),
        )
    )
    print(summary.to_json() if args.json else summary.render(), flush=True)
    if summary.partial:
        return 128 + signal.Signals[summary.interrupted_by or "SIGINT"]
    return 0 if summary.settled else 1


async def _simulate(args: argparse.Namespace) -> int:
    from swarmstream.simulate import simulate
    from swarmstream.society import new_config

    config = None
    if args.resume is None:
        config = new_config(args.agents, args.rounds, args.active, args.turns, args.seed, args.budget_usd)
        print(f"run {config.run_id} (resume it with: swarmstream simulate --resume {config.run_id})", file=sys.stderr)
    result = await simulate(settings_from(args), config, args.resume, args.workers, not args.quiet)
    print(json.dumps(result.to_dict()) if args.json else result.render(), flush=True)
    if result.ended is not None and result.ended.reason == "budget":
        print(f"swarmstream: {result.ended.detail}", file=sys.stderr)
    return 0


async def _topics(
    settings: Settings, check: bool, workers: int | None, copy_from: str | None, as_json: bool = False
) -> int:
    from swarmstream.topics import topic_specs, workers_warning
    from swarmstream.transport import check_topics, ensure_topics

    if copy_from is not None and check:
        raise ValueError("--copy-agents-from creates and writes: not with --check")
    problems = await (check_topics(settings) if check else ensure_topics(settings))
    for problem in problems:
        print(f"{problem.topic}: {problem.problem}\n  fix: {problem.fix}", file=sys.stderr)
    if workers is not None and (warning := workers_warning(settings.partitions, workers)):
        print(f"warning: {warning}", file=sys.stderr)
    if copy_from is not None:
        from producers.copy_agents import copy_agents

        source = settings.model_copy(update={"topic_prefix": copy_from})
        written = await copy_agents(source, settings)
        print(f"copied {source.agents_topic} into {settings.agents_topic}: {written:,} records", file=sys.stderr)
    if as_json:
        specs = [asdict(spec) for spec in topic_specs(settings)]
        print(json.dumps({"checked": check, "topics": specs, "problems": [asdict(p) for p in problems]}, indent=2))
        return 1 if check and problems else 0
    if check:
        count = len(topic_specs(settings))
        verdict = f"{len(problems)} problem(s)" if problems else "all as declared"
        print(f"{count} topics checked ({settings.topic_prefix}.*, {settings.partitions} partitions): {verdict}")
        return 1 if problems else 0
    print(f"topics ready: {settings.topic_prefix}.* with {settings.partitions} partitions", file=sys.stderr)
    return 0


def _graph(args: argparse.Namespace) -> int:
    from consumers import graph_report
    from consumers.graph import open_store

    run_id = getattr(args, "run", None)
    settings = graph_report.query_settings(settings_from(args), args.db, run_id)
    store = open_store(settings)
    try:
        if args.query == "stats" and run_id is not None:
            rounds = graph_report.graph_by_round(store, run_id)
            if not rounds:
                raise ValueError(f"run {run_id!r} made no edges in {settings.graph_db_path}")
            print(
                json.dumps({"run_id": run_id, "rounds": [r.to_dict() for r in rounds]}, indent=2)
                if args.json
                else graph_report.render_by_round(run_id, rounds)
            )
        elif args.query == "stats":
            result = graph_report.graph_stats(store)
            print(json.dumps(result.to_dict(), indent=2) if args.json else result.render())
        elif args.query == "neighbors":
            found = graph_report.neighbors(store, args.agent)
            print(json.dumps(asdict(found), indent=2) if args.json else found.render())
        elif args.query == "detect":
            asyncio.run(_detect(store, settings if args.publish else None, args.every, args.method))
        elif args.query == "plot":
            graph_report.plot(store, args.out)
            print(f"wrote {args.out}", file=sys.stderr)
        else:
            written = graph_report.export(store, args.format, args.out)
            print(f"wrote {written:,} edges to {args.out}", file=sys.stderr)
    finally:
        store.close()
    return 0


async def _detect(store: Any, publish_to: Settings | None, every_s: float | None, method: str) -> None:
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


def _broker(args: argparse.Namespace) -> int:
    from swarmstream.runtime.broker import EmbeddedBroker

    broker = EmbeddedBroker(args.host, args.port)
    broker.start()
    print(f"Tansu broker listening on {broker.bootstrap_servers} (memory only; Ctrl-C stops it)", flush=True)
    try:
        assert broker.child is not None
        broker.child.process.wait()
    finally:
        broker.stop()
    return 0


def _bench(args: argparse.Namespace) -> int:
    if args.bench == "llm":
        from swarmstream.bench.llm import DEFAULT_MAX_CONCURRENT, bench_llm

        settings = settings_from(args)
        if args.max_concurrent is None and "SWARMSTREAM_MAX_CONCURRENT" not in os.environ:
            settings = settings.model_copy(update={"max_concurrent": DEFAULT_MAX_CONCURRENT})
        if args.batch_size:
            settings = settings.model_copy(update={"request_batch_size": args.batch_size})
        report = asyncio.run(bench_llm(settings, args.requests, args.agents, args.seed, _simulator_argv(args)))
    elif args.bench == "graph":
        from swarmstream.bench.graph import bench_graph

        report = bench_graph(args.updates, args.agents, args.seed, args.dsn, not args.quiet)
    elif args.bench == "communities":
        from swarmstream.bench.communities import bench_communities

        methods = tuple(args.method or ("louvain", "leiden"))
        report = bench_communities(args.nodes, args.edges, args.community_size, args.seed, methods)
    elif args.bench == "agents":
        from swarmstream.bench.agents import bench_agents

        overrides = {"agent_batch_size": args.batch_size} if args.batch_size else {}
        report = asyncio.run(bench_agents(settings_from(args, **overrides), args.count, args.seed, not args.quiet))
    elif args.bench == "scale":
        from swarmstream.bench.scale import bench_scale

        try:
            counts = [int(part) for part in args.workers.split(",")]
        except ValueError:
            raise ValueError(f"--workers takes counts such as 1,2,4,8, not {args.workers!r}") from None
        report = asyncio.run(bench_scale(settings_from(args), counts, args.requests, args.agents, args.seed)).result()
    elif args.workers is not None:
        from swarmstream.bench.ratelimit import bench_group_ratelimit

        result = asyncio.run(
            bench_group_ratelimit(settings_from(args), args.workers, args.rpm, args.tpm, args.duration)
        )
        report = result.result()
    else:
        from swarmstream.bench.ratelimit import bench_ratelimit

        report = asyncio.run(bench_ratelimit(settings_from(args), args.rpm, args.tpm, args.duration))
    print(report.to_json() if args.json else report.render())
    return 0


def _llm_sim(args: argparse.Namespace) -> int:
    from swarmstream.llm.simulator import serve

    config = simulator_config(args)
    print(f"LLM simulator on http://{args.host}:{args.port}/v1", flush=True)
    with contextlib.suppress(asyncio.CancelledError):
        _run_until_signal(serve(config, args.host, args.port))
    return 0


def _run_until_signal(coro: Any) -> None:
    """Run ``coro`` until SIGTERM or SIGINT, then cancel it cleanly."""

    async def runner() -> None:
        task = asyncio.ensure_future(coro)
        stop_on_signals(lambda _: task.cancel())
        await task

    asyncio.run(runner())


async def _produce(args: argparse.Namespace) -> int:
    from producers import publication

    settings = settings_from(args)
    if args.what == "agents":
        planned = publication.agents(settings, args.count, args.seed, args.start, args.batch_size)
    elif args.what == "broadcast":
        planned = publication.broadcast(settings, args.text, args.community, args.author)
        if not args.json:
            print(planned.facts["event_id"])  # its id: the feed item acting agents' responses list
    elif args.what == "communities":
        names = [name.strip() for name in args.names.split(",") if name.strip()]
        planned = publication.communities(settings, names, args.agents, args.max_members)
        if left_out := planned.facts["left_out"]:
            print(f"{left_out:,} agents left out: {len(names)} communities of at most {args.max_members:,}",
                  file=sys.stderr)  # fmt: skip
    else:
        planned = publication.interactions(
            settings, file=args.file, count=args.count, agents=args.agents, seed=args.seed,
            max_turns=args.max_turns, batch_size=args.batch_size,
        )  # fmt: skip
    published = await publication.publish(settings, planned, not args.quiet)
    print(published.render(), file=sys.stderr)
    if args.json:
        print(json.dumps(published.to_dict(), indent=2))
    return 0


async def _chaos(args: argparse.Namespace) -> int:

    from swarmstream.chaos.scenarios import SCENARIOS, run_scenario

    settings = settings_from(args)
    chosen = args.scenario or [s for s in SCENARIOS if s != "scale-out" or settings.graph_dsn is not None]
    if "scale-out" not in chosen and not args.scenario:
        print("chaos: scale-out skipped (it needs PostgreSQL: SWARMSTREAM_GRAPH_DSN)", file=sys.stderr)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(sorted(unknown))}: choose from {', '.join(SCENARIOS)}")
    results = []
    for scenario in chosen:
        print(f"chaos {scenario}: {args.requests:,} requests, {args.agents:,} agents ...", file=sys.stderr, flush=True)
        result = await run_scenario(scenario, args.requests, args.agents, args.seed, settings)
        results.append(result)
        a = result.accounting
        recoveries = ", ".join("never" if r is None else f"{r:.0f} s" for r in result.recoveries_s) or "-"
        if a is not None:
            print(
                f"  requests {a.requests:,}  answered {a.answered:,}  dead-lettered {a.dead_lettered:,}  "
                f"LOST {a.lost:,}  both {a.both:,}  duplicates {a.duplicates:,}  recovery {recoveries}  "
                f"outcomes/s {result.outcomes_per_s or 0:,.0f}  wall {result.wall_s:.0f} s",
                file=sys.stderr,
            )
        for what, at in result.faults:
            print(f"    at {at:6.1f} s  {what}", file=sys.stderr)
        if a is not None and a.dead_letter_reasons:
            print(f"    dead letters: {a.dead_letter_reasons}", file=sys.stderr)
        for check, value in result.checks.items():
            print(f"    {check}: {value}", file=sys.stderr)
    if args.json:
        print(json.dumps([{**asdict(r), "ok": r.ok} for r in results], indent=2))
    return 0 if all(result.ok for result in results) else 1


async def _dlq(args: argparse.Namespace) -> int:
    from consumers.dlq import RETRYABLE, inspect_report, read_dead_letters, replay

    reasons = set(args.reason) if args.action == "replay" and args.reason else None
    unknown = (reasons or set()) - RETRYABLE
    if unknown:
        print(f"swarmstream: not retryable (they would fail again): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    settings = settings_from(args)
    index = await read_dead_letters(settings)
    if args.action == "inspect":
        report = inspect_report(index, args.samples)
        if args.json:
            print(json.dumps(report, indent=2))
            return 0
        total, retryable = report["dead_letters"], report["retryable"]
        print(f"{total:,} dead letters ({retryable:,} retryable) in {settings.deadletter_topic}")
        for reason, count in report["by_reason"].items():
            mark = "retryable" if reason in RETRYABLE else ""
            print(f"  {reason:24} {count:>10,}  {mark}")
            for example in report["examples"][reason]:
                print(f"      {example['source']} agent {example['agent_id']}: {example['detail'][:120]}")
        return 0
    letters = index.retryable(reasons)
    if args.dry_run:
        print(f"would replay {len(letters):,} records: {dict(Counter(letter.reason for letter in letters))}")
        return 0
    sent = await replay(settings, letters)
    print(f"replayed {sent:,} records to their source topics", file=sys.stderr)
    return 0


async def _report(args: argparse.Namespace) -> int:
    from consumers.report import collect, write_report

    stats, timeline, undecodable = await collect(settings_from(args))
    report = write_report(stats, timeline, undecodable, args.out)
    if args.json:
        print((args.out / "summary.json").read_text())
    run = report.performance
    print(
        f"{run['total_operations']:,} operations, {run['success_rate']:.2f} % answered, "
        f"{run['operations_per_second']:.1f}/s over {run['total_time']:.1f} s: report in {args.out}/report.md",
        file=sys.stderr,
    )
    return 0


async def _consume(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    stop_on_signals(lambda _: stop.set())
    if args.what in ("graph", "metrics"):
        if args.what == "graph":
            from consumers.graph import GraphConsumer

            settings = settings_from(args, **({"graph_db_path": args.db} if args.db else {}))
            consumer: Any = GraphConsumer(settings)
            port = args.port if args.port is not None else settings.graph_metrics_port
        else:
            from consumers.metrics import MetricsConsumer

            settings = settings_from(args)
            consumer = MetricsConsumer(settings)
            port = args.port if args.port is not None else settings.metrics_port
        host = args.host or settings.metrics_host
        runner = None
        if port is not None:
            runner = await consumer.serve_metrics(host, port)
            print(f"metrics on http://{host}:{port}/metrics", file=sys.stderr, flush=True)
        try:
            await consumer.run(stop)
        finally:
            if runner is not None:
                await runner.cleanup()
    else:
        from consumers.interactions import follow_interactions

        await follow_interactions(
            settings_from(args), stop, agent=args.agent, request_id=args.request_id, text=args.format == "text",
            from_beginning=args.from_beginning, limit=args.limit, out=sys.stdout,
        )  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
