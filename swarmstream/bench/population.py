"""``swarmstream bench import``: a population file of N agents imported, as ``swarmstream import agents`` does it.

The file (CSV or Parquet: seeded personas, each with an ``activity`` and two attributes) is written first,
outside the clock. Then ``swarmstream import agents FILE`` runs as its own process against the stack that is
up (``swarmstream up``), a configured broker with its workers, or else an embedded broker and one worker
started here: its wall time (to every agent registered by the workers) and its peak memory (the kernel's
``ru_maxrss`` of that process alone) are the figures. The same file is then imported a second time: every
row unchanged, nothing published.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from producers.personas import persona_spec
from swarmstream.bench.result import BenchResult
from swarmstream.progress import progress_bar
from swarmstream.runtime.process import free_port
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics

COLUMNS = ("id", "name", "persona", "interests", "traits", "community", "activity", "cohort", "score")
ROWS_PER_BATCH = 50_000


def write_population(path: Path, agents: int, seed: int, show_progress: bool) -> None:
    """``agents`` seeded personas as rows of a population file (by its suffix: .csv or .parquet)."""
    with progress_bar(agents, f"write {path.name}", show_progress, "rows") as bar:
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = None
            for start in range(0, agents, ROWS_PER_BATCH):
                rows = [_row(index, seed) for index in range(start, min(agents, start + ROWS_PER_BATCH))]
                table = pa.Table.from_pylist(rows)
                writer = writer or pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                bar.update(len(rows))
            if writer is not None:
                writer.close()
            return
        with open(path, "w", newline="") as out:
            rows_out = csv.DictWriter(out, COLUMNS)
            rows_out.writeheader()
            for index in range(agents):
                row = _row(index, seed)
                rows_out.writerow({**row, "interests": ";".join(row["interests"]), "traits": ";".join(row["traits"])})
                if index % 10_000 == 9_999:
                    bar.update(10_000)
            bar.update(agents % 10_000)


def _row(index: int, seed: int) -> dict[str, object]:
    spec = persona_spec(index, seed)
    return {
        "id": f"person-{index:08d}", "name": spec.name, "persona": spec.persona, "interests": spec.interests,
        "traits": spec.traits, "community": spec.community, "activity": 0.1, "cohort": 1990 + index % 30,
        "score": round((index * 7919 % 1000) / 1000, 3),
    }  # fmt: skip


def _import(settings: Settings, path: Path) -> tuple[float, int, dict]:
    """``swarmstream import agents`` in a process of its own: its wall time, peak RSS (bytes) and summary."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "swarmstream", "import", "agents", str(path), "--json", "--quiet"],
        env={**os.environ, **settings.to_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # wait4, not wait: the rusage of this child alone, its peak resident memory among it.
    out_file, err_file = child.stdout, child.stderr
    assert out_file is not None and err_file is not None
    out, err = out_file.read(), err_file.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"swarmstream import agents exited {child.returncode}:\n{err.decode()[-3000:]}")
    return seconds, usage.ru_maxrss * 1024, json.loads(out)


async def bench_import(
    settings: Settings, agents: int, fmt: str, seed: int, keep: Path | None, show_progress: bool
) -> BenchResult:
    if agents < 1:
        raise ValueError("--agents must be at least 1")
    with tempfile.TemporaryDirectory(dir=settings.data_dir if Path(settings.data_dir).exists() else None) as scratch:
        path = keep or Path(scratch) / f"population-{agents}.{fmt}"
        if path.suffix != f".{fmt}":
            raise ValueError(f"--keep {path}: the file of a --format {fmt} population ends in .{fmt}")
        write_population(path, agents, seed, show_progress)
        with LocalStack(settings) as stack:
            settings = stack.settings
            await ensure_topics(settings)
            if stack.broker is not None:  # an embedded broker has no workers: one is started here
                port = free_port()
                stack.start_worker(metrics_port=port)
                await stack.until_assigned([port], timeout_s=120)
            first_s, first_rss, first = await asyncio.to_thread(_import, settings, path)
            again_s, again_rss, again = await asyncio.to_thread(_import, settings, path)
        file_bytes = path.stat().st_size
    figures = {
        "agents": agents, "format": fmt, "file_bytes": file_bytes, "seconds": first_s, "rows_per_s": agents / first_s,
        "max_rss_bytes": first_rss, "created": first["created"], "again_seconds": again_s,
        "again_rows_per_s": agents / again_s, "again_max_rss_bytes": again_rss, "again_unchanged": again["unchanged"],
    }  # fmt: skip
    lines = [
        f"import agents: {agents:,} rows of {fmt} ({file_bytes / 1e6:,.0f} MB)",
        f"  first import    {first_s:8.1f} s  {agents / first_s:10,.0f} rows/s  peak RSS {first_rss / 2**20:6,.0f} MiB"
        f"  ({first['created']:,} created, registered by the workers)",
        f"  same file again {again_s:8.1f} s  {agents / again_s:10,.0f} rows/s  peak RSS {again_rss / 2**20:6,.0f} MiB"
        f"  ({again['unchanged']:,} unchanged)",
    ]
    return BenchResult("import", figures, lines)
