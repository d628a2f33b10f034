"""``swarmstream compare RUN_A RUN_B``: two arms of a study side by side, from their records (no broker)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare",
        help="two runs (arms of one population and seed) side by side: acts per round, exposure to broadcasts, "
        "survey answers and cascades, with the differences; from their records",
    )
    compare.add_argument("run_a", metavar="RUN_A", help="a run id (its record in DATA_DIR/runs), or a run's folder")
    compare.add_argument("run_b", metavar="RUN_B")
    compare.add_argument("--out", type=Path, default=Path("compare"), help="where compare.png goes")
    compare.add_argument("--json", action="store_true", help="print the figures as JSON")
    compare.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from consumers.record_files import RecordFiles
    from consumers.study import compare, figures, render_comparison
    from consumers.study_plots import compare_plot
    from swarmstream.settings import Settings

    settings = Settings()
    arms = []
    for given in (args.run_a, args.run_b):
        folder = Path(given)
        if folder.is_dir():  # a run's folder (or its record's), wherever it was moved
            record = RecordFiles(folder if folder.name == "record" else folder / "record")
        else:
            record = RecordFiles(settings.run_dir(given) / "record")
        if not record.exists():
            raise ValueError(f"no record of run {given!r} in {record.directory} (is SWARMSTREAM_DATA_DIR the run's?)")
        arms.append(figures(record.directory, record.directory.parent.name))
    a, b = arms
    rows = compare(a, b)
    if args.json:
        print(json.dumps([{**asdict(row), "difference": row.difference} for row in rows]))
    else:
        print(render_comparison(a, b, rows))
    args.out.mkdir(parents=True, exist_ok=True)
    compare_plot(a, b, args.out / "compare.png")
    print(f"plot: {(args.out / 'compare.png').resolve()}")
    return 0
