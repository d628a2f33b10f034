"""``swarmstream simulate``: a society in rounds, new or resumed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from swarmstream.cli.parsing import connection_options, settings_from


def register(commands: argparse._SubParsersAction) -> None:
    sim_run = commands.add_parser("simulate", help="a society in rounds: agents read their feeds and act")
    sim_run.add_argument("--agents", type=int, default=1_000)
    sim_run.add_argument("--rounds", type=int, default=3)
    sim_run.add_argument("--active", type=float, default=0.2, help="fraction of the agents acting each round")
    sim_run.add_argument("--turns", type=int, default=4, help="turns of the conversation a message opens, at most")
    sim_run.add_argument("--seed", type=int, default=7)
    sim_run.add_argument("--budget-usd", type=float, help="start no round that would take the estimated cost past this")
    sim_run.add_argument(
        "--max-failure-rate",
        type=float,
        default=0.5,
        help="end the run (failed, exit 1) when a round dead-letters more than this fraction of its requests",
    )
    sim_run.add_argument(
        "--record-prompts", action="store_true", help="keep each prompt whole in the run's record (sizes always)"
    )
    sim_run.add_argument("--resume", metavar="RUN_ID", help="continue this run at its first incomplete round")
    sim_run.add_argument("--workers", type=int, default=1, help="stream workers, where it starts the broker")
    sim_run.add_argument("--json", action="store_true", help="print the rounds as JSON")
    sim_run.add_argument("--quiet", action="store_true", help="no progress bars")
    connection_options(sim_run, llm=True)
    sim_run.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_simulate(args))


async def _simulate(args: argparse.Namespace) -> int:
    from swarmstream.society.config import new_config
    from swarmstream.society.simulate import simulate

    config = None
    if args.resume is None:
        config = new_config(
            args.agents, args.rounds, args.active, args.turns, args.seed, args.budget_usd, args.max_failure_rate,
            args.record_prompts,
        )  # fmt: skip
    result = await simulate(settings_from(args), config, args.resume, args.workers, not args.quiet)
    print(json.dumps(result.to_dict()) if args.json else result.render(), flush=True)
    if result.ended in ("budget", "failed"):
        print(f"swarmstream: {result.detail}", file=sys.stderr)
    return 1 if result.ended == "failed" else 0
