"""``swarmstream import``: a population of one's own, its agents and its starting social graph, from files."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from swarmstream.cli.parsing import connection_options, settings_from


def register(commands: argparse._SubParsersAction) -> None:
    imports = commands.add_parser("import", help="bring a population of your own: agents and their social graph")
    what = imports.add_subparsers(dest="what", required=True)
    agents = what.add_parser(
        "agents", help="agents from a file (id, name, persona, interests, traits, community, activity, ...)"
    )
    graph = what.add_parser(
        "graph", help="the population's starting social graph: source, target, kind (friend or follow), weight"
    )
    for parser in (agents, graph):
        parser.add_argument("file", type=Path, metavar="FILE", help=".csv, .jsonl or .parquet (streamed, never whole)")
        parser.add_argument(
            "--skip-invalid", action="store_true", help="import the good rows and write the bad ones to a rejects file"
        )
        parser.add_argument("--rejects", type=Path, help="where --skip-invalid writes them (default FILE.rejects.txt)")
        parser.add_argument("--json", action="store_true", help="print what was imported as JSON on stdout")
        parser.add_argument("--quiet", action="store_true", help="no progress bars")
        connection_options(parser)
        parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from swarmstream.society.population import import_agents, import_graph

    command = import_agents if args.what == "agents" else import_graph
    result = asyncio.run(command(settings_from(args), args.file, args.skip_invalid, args.rejects, not args.quiet))
    print(result.render(), file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    return 0
