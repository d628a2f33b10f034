"""``swarmstream up``, ``down``, ``status``: a local stack that outlives one command (``runtime/standing.py``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict

from swarmstream.cli.parsing import connection_options, settings_from

FOUND_BY = "later commands run from this directory (or with this SWARMSTREAM_DATA_DIR) use it without flags"


def register(commands: argparse._SubParsersAction) -> None:
    up = commands.add_parser(
        "up", help="start the embedded broker, the LLM simulator and workers in the background, for later commands"
    )
    up.add_argument("--workers", type=int, default=1, help="stream workers (a worker that exits is restarted)")
    up.add_argument("--foreground", action="store_true", help=argparse.SUPPRESS)  # the supervisor itself
    up.add_argument("--json", action="store_true", help="print where everything is as JSON on stdout")
    connection_options(up, llm=True)
    up.set_defaults(func=run_up)
    down = commands.add_parser("down", help="stop the stack swarmstream up started")
    down.set_defaults(func=run_down)
    status = commands.add_parser("status", help="where the stack swarmstream up started is, and whether it runs")
    status.add_argument("--count", action="store_true", help="also count the agents of its population")
    status.add_argument("--json", action="store_true", help="print it as JSON on stdout")
    status.set_defaults(func=run_status)


def run_up(args: argparse.Namespace) -> int:
    from swarmstream.runtime import standing

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    settings = settings_from(args, standing=False)
    if args.foreground:
        return standing.serve(settings, args.workers)
    print("starting the stack (the workers join the group: up to a minute) ...", file=sys.stderr, flush=True)
    up = standing.start(settings, args.workers)
    print(up.render(), file=sys.stderr)
    print(f"{FOUND_BY}; swarmstream down stops it", file=sys.stderr)
    if args.json:
        print(json.dumps(asdict(up), indent=2))
    return 0


def run_down(args: argparse.Namespace) -> int:
    from swarmstream.runtime import standing

    stopped = standing.stop(settings_from(args, standing=False))
    if stopped is None:
        print("no stack is up here", file=sys.stderr)
        return 0
    lost = " (the embedded broker kept its topics in memory: they are gone)" if stopped.embedded_broker else ""
    print(f"stack stopped{lost}; runs' records stay under their run directories", file=sys.stderr)
    return 0


def run_status(args: argparse.Namespace) -> int:
    from swarmstream.runtime import standing

    settings = settings_from(args, standing=False)
    up = standing.find(settings)
    if up is None:
        print(f"no stack is up under {settings.data_dir} (swarmstream up starts one)", file=sys.stderr)
        if args.json:
            print(json.dumps({"up": False}))
        return 3  # as ``systemctl status`` says of a unit that is not running
    found = {"up": True, **asdict(up)}
    print(up.render(), file=sys.stderr if args.json else sys.stdout)
    if args.count:
        from consumers import population

        agents = asyncio.run(population.count(standing.settings_for(settings, up, set())))
        found["agents"] = agents
        print(f"  population:   {agents:,} agents", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(found, indent=2))
    return 0
