"""``swarmstream demo``: the whole pipeline end to end, with a summary."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from swarmstream.cli.parsing import connection_options, settings_from
from swarmstream.cli.simulator_options import add_simulator_options, simulator_argv


def register(commands: argparse._SubParsersAction) -> None:
    demo = commands.add_parser("demo", help="run a whole society end to end and print a summary")
    demo.add_argument("--agents", type=int, default=1_000, help="agents to create")
    demo.add_argument("--interactions", type=int, default=1_000, help="interactions to request")
    demo.add_argument("--seed", type=int, default=7, help="seed of the society and its requests")
    demo.add_argument("--workers", type=int, default=1, help="stream worker processes")
    demo.add_argument("--timeout", type=float, help="seconds to wait for each stage")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    connection_options(demo, llm=True)
    add_simulator_options(demo)
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarmstream.demo import run_demo

    summary = asyncio.run(
        run_demo(
            settings_from(args, standing=False),
            agents=args.agents,
            interactions=args.interactions,
            seed=args.seed,
            workers=args.workers,
            timeout_s=args.timeout,
            show_progress=not args.quiet,
            simulator_args=simulator_argv(args),
        )
    )
    print(summary.to_json() if args.json else summary.render(), flush=True)
    if summary.llm_failures:
        failed = sorted((r, n) for r, n in summary.dead_letter_reasons.items() if r.startswith("llm_"))
        reasons = ", ".join(f"{reason} {count:,}" for reason, count in failed)
        print(f"swarmstream: {summary.llm_failures:,} interactions failed at the LLM ({reasons})", file=sys.stderr)
    if summary.partial:
        return 128 + signal.Signals[summary.interrupted_by or "SIGINT"]
    return 0 if summary.settled else 1
