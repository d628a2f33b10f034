"""``swarmstream export RUN_ID``: a run's record as Parquet, CSV, JSON lines, SQLite or PostgreSQL tables."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from swarmstream.cli.parsing import settings_from


def register(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export", help="a society run's record (its tables) in a format of your choice; needs no broker"
    )
    export.add_argument("run_id", metavar="RUN_ID", help="the run (its record is DATA_DIR/runs/RUN_ID/record)")
    export.add_argument("--format", choices=["parquet", "csv", "jsonl", "sqlite"], default="parquet")
    export.add_argument(
        "--out", type=Path, help="folder to write (sqlite: the file); default: the record's export/ folder"
    )
    export.add_argument("--dsn", help="write into this PostgreSQL database instead (tables swarmstream_<table>)")
    export.add_argument("--json", action="store_true", help="print what was written as JSON on stdout")
    export.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from consumers.record_export import export
    from consumers.record_files import RecordFiles

    settings = settings_from(args)
    files = RecordFiles(settings.run_dir(args.run_id) / "record")
    if not files.exists():
        raise ValueError(
            f"no record of run {args.run_id!r} in {files.directory} (SWARMSTREAM_DATA_DIR is {settings.data_dir}: "
            "set it to where the run was written)"
        )
    out = args.out.resolve() if args.out is not None else None
    exported = export(files, args.run_id, args.format, out, args.dsn)
    print(json.dumps(exported.to_dict(), indent=2) if args.json else exported.render())
    print(f"{exported.total / max(exported.seconds, 1e-9):,.0f} rows/s", file=sys.stderr)
    return 0
