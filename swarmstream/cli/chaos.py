"""``swarmstream chaos``: faults injected into a running pipeline, every request accounted for."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict

from swarmstream.cli.parsing import settings_from


def register(commands: argparse._SubParsersAction) -> None:
    chaos = commands.add_parser("chaos", help="faults injected into a running pipeline, every request accounted for")
    chaos.add_argument("--scenario", action="append", help="one of the scenarios (repeatable; default: all)")
    chaos.add_argument("--requests", type=int, default=20_000)
    chaos.add_argument("--agents", type=int, default=1_000)
    chaos.add_argument("--seed", type=int, default=7)
    chaos.add_argument("--json", action="store_true")
    chaos.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_chaos(args))


async def _chaos(args: argparse.Namespace) -> int:
    from swarmstream.chaos.scenarios import SCENARIOS, run_scenario

    settings = settings_from(args, standing=False)
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
