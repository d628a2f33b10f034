"""``swarmstream topics``: create the topics with their configs, check them, copy a society in."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict

from swarmstream.cli.parsing import connection_options, settings_from
from swarmstream.settings import Settings


def register(commands: argparse._SubParsersAction) -> None:
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
    connection_options(topics)
    topics.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_topics(settings_from(args), args.check, args.workers, args.copy_agents_from, args.json))


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
