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
    report.add_argument(
        "--run",
        metavar="RUN_ID",
        help="a society run's plots for its study, from its record (no broker): actions by community, exposure "
        "to each broadcast, surveys, network growth, cascades and engagement, in OUT/study/",
    )
    report.add_argument("--json", action="store_true", help="print the summary (summary.json's content) on stdout")
    connection_options(report)
    report.set_defaults(func=lambda args: asyncio.run(_report(args)))


async def _report(args: argparse.Namespace) -> int:
    from consumers.report import collect, write_report

    if args.run is not None:
        return _study(args)
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


def _study(args: argparse.Namespace) -> int:
    from consumers.record_files import RecordFiles
    from consumers.study import figures
    from consumers.study_plots import write_study_plots
    from swarmstream.settings import Settings

    record = RecordFiles(Settings().run_dir(args.run) / "record")
    if not record.exists():
        raise ValueError(f"no record of run {args.run!r} in {record.directory} (is SWARMSTREAM_DATA_DIR the run's?)")
    run = figures(record.directory, args.run)
    drawn = write_study_plots(run, args.out / "study")
    for path in drawn:
        print(path.resolve())
    print(f"run {args.run}: {len(run.rounds)} rounds, {len(run.surveys)} surveys, {len(run.exposure)} broadcasts "
          f"shown: plots in {(args.out / 'study').resolve()}", file=sys.stderr)  # fmt: skip
    return 0
