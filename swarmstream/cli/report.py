"""``swarmstream report``: a run's summary, report and plots, read from the outcome topics."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from swarmstream.cli.parsing import connection_options, settings_from


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report", help="summary.json, report.md and PNG plots of throughput and latency over a run's responses"
    )
    report.add_argument("--out", type=Path, default=Path("report"), help="directory to write (default ./report)")
    report.add_argument("--json", action="store_true", help="print the summary (summary.json's content) on stdout")
    connection_options(report)
    report.set_defaults(func=lambda args: asyncio.run(_report(args)))


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
