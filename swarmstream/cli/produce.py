"""``swarmstream produce``: publish agents, communities, interaction requests, a broadcast."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from swarmstream.cli.parsing import connection_options, json_option, settings_from
from swarmstream.events import BROADCAST_AUTHOR


def register(commands: argparse._SubParsersAction) -> None:
    produce = commands.add_parser("produce", help="publish events")
    what = produce.add_subparsers(dest="what", required=True)
    produce_json = json_option("print what was published as JSON on stdout")
    agents = what.add_parser("agents", help="seeded agent personas", parents=[produce_json])
    agents.add_argument("--count", type=int, required=True)
    agents.add_argument("--seed", type=int, default=7)
    agents.add_argument("--start", type=int, default=0, help="index of the first agent")
    agents.add_argument(
        "--communities", help="the communities personas are dealt into, a,b,c (default: the README's eight)"
    )
    agents.add_argument(
        "--batch-size",
        type=int,
        help="agents per bulk-creation event (grouped by partition; default SWARMSTREAM_AGENT_BATCH_SIZE, 500); "
        "1: one agent.created event per agent",
    )
    agents.add_argument("--quiet", action="store_true")
    connection_options(agents)
    comm = what.add_parser(
        "communities",
        help="put agents in communities: each agent's from a file, or seeded ones dealt into named communities",
        parents=[produce_json],
    )
    comm.add_argument("--file", type=Path, help=".csv, .jsonl or .parquet with columns id, community")
    comm.add_argument("--names", help="comma-separated community names (with --agents)")
    comm.add_argument("--agents", type=int, help="agents agent-0000000 .. N-1 to deal into --names")
    comm.add_argument("--max-members", type=int, default=1_000, help="members per community at most")
    comm.add_argument("--quiet", action="store_true")
    connection_options(comm)
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
    connection_options(inter)
    cast = what.add_parser(
        "broadcast", help="an announcement in every agent's feed (or one community's)", parents=[produce_json]
    )
    cast.add_argument("text", help="what the announcement says (up to 2,000 characters)")
    cast.add_argument("--community", help="only this community's members read it (default: everyone)")
    cast.add_argument("--author", default=BROADCAST_AUTHOR, help="who it is from (default %(default)s)")
    cast.add_argument("--quiet", action="store_true")
    connection_options(cast)
    for parser in (agents, comm, inter, cast):
        parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_produce(args))


async def _produce(args: argparse.Namespace) -> int:
    from consumers import population
    from producers import publication
    from producers.communities import read_assignment
    from producers.personas import community_names

    settings = settings_from(args)
    if args.what == "agents":
        communities = community_names(args.communities)
        planned = publication.agents(settings, args.count, args.seed, args.start, args.batch_size, communities)
    elif args.what == "broadcast":
        planned = publication.broadcast(settings, args.text, args.community, args.author)
    elif args.what == "communities" and args.file is not None:
        if args.names is not None or args.agents is not None:
            raise ValueError("--file says each agent's community: not with --names or --agents")
        known = await population.ids(settings)
        assignment = await asyncio.to_thread(read_assignment, args.file.resolve(), known.__contains__)
        planned = publication.assigned_communities(settings, assignment)
    elif args.what == "communities":
        if args.names is None or args.agents is None:
            raise ValueError("give --file (each agent's community), or --names and --agents")
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
    # Ids are printed once the broker has the events: an id printed before a failure would be a lie.
    published = await publication.publish(settings, planned, not args.quiet)
    print(published.render(), file=sys.stderr)
    if args.json:
        print(json.dumps(published.to_dict(), indent=2))
    elif args.what == "broadcast":
        print(planned.facts["event_id"])  # its id: the feed item acting agents' responses list
    return 0
