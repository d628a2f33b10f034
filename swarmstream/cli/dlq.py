"""``swarmstream dlq``: the dead-letter topic by reason, and replaying the retryable letters."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter

from swarmstream.cli.parsing import connection_options, settings_from


def register(commands: argparse._SubParsersAction) -> None:
    dlq = commands.add_parser("dlq", help="the dead-letter topic: inspect by reason, replay the retryable")
    dlq_actions = dlq.add_subparsers(dest="action", required=True)
    inspect = dlq_actions.add_parser("inspect", help="dead letters by reason and source topic, with examples")
    inspect.add_argument("--json", action="store_true")
    inspect.add_argument("--samples", type=int, default=3, help="examples per reason")
    connection_options(inspect)
    inspect.set_defaults(func=lambda args: asyncio.run(_inspect(args)))
    replay = dlq_actions.add_parser("replay", help="publish retryable dead letters' records again")
    replay.add_argument(
        "--reason", action="append", help="replay only this reason (repeatable; default: every retryable one)"
    )
    replay.add_argument("--dry-run", action="store_true", help="say what would be replayed, send nothing")
    connection_options(replay)
    replay.set_defaults(func=lambda args: asyncio.run(_replay(args)))


async def _inspect(args: argparse.Namespace) -> int:
    from consumers.dlq import RETRYABLE, inspect_report, read_dead_letters

    settings = settings_from(args)
    report = inspect_report(await read_dead_letters(settings), args.samples)
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


async def _replay(args: argparse.Namespace) -> int:
    from consumers.dlq import RETRYABLE, read_dead_letters, replay

    reasons = set(args.reason) if args.reason else None
    unknown = (reasons or set()) - RETRYABLE
    if unknown:
        print(f"swarmstream: not retryable (they would fail again): {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    settings = settings_from(args)
    letters = (await read_dead_letters(settings)).retryable(reasons)
    if args.dry_run:
        print(f"would replay {len(letters):,} records: {dict(Counter(letter.reason for letter in letters))}")
        return 0
    sent = await replay(settings, letters)
    print(f"replayed {sent:,} records to their source topics", file=sys.stderr)
    return 0
