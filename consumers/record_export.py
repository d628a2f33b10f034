"""A run's record written out for the tools a study uses: Parquet, CSV, JSON lines, SQLite, PostgreSQL.

Every format holds the same tables and columns (``consumers/record_tables.py``); list columns (traits,
interests) become JSON text where the format has no lists (CSV, SQLite, PostgreSQL's text columns).
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

from consumers.record_files import RecordFiles

FORMATS = ("parquet", "csv", "jsonl", "sqlite")


@dataclass
class Exported:
    """What an export wrote: rows per table, where, and how long it took."""

    run_id: str
    format: str
    target: str
    rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def to_dict(self) -> dict[str, object]:
        return {
            "run_id": self.run_id, "format": self.format, "target": self.target, "rows": self.rows,
            "total_rows": self.total, "seconds": self.seconds,
            "rows_per_s": self.total / self.seconds if self.seconds else None,
        }  # fmt: skip

    def render(self) -> str:
        per_table = ", ".join(f"{name} {count:,}" for name, count in self.rows.items())
        return f"exported run {self.run_id} ({self.total:,} rows: {per_table}) as {self.format} to {self.target}"


def export(files: RecordFiles, run_id: str, fmt: str, out: Path | None = None, dsn: str | None = None) -> Exported:
    """Write run ``run_id``'s record (``files``) as ``fmt`` into ``out`` (a folder; SQLite: a file), or into
    PostgreSQL at ``dsn``. Without ``out``, the run's own record folder (``export/<format>`` in it)."""
    started = time.perf_counter()
    tables = files.tables()
    if dsn is not None:
        target = _postgres(tables, run_id, dsn)
        fmt = "postgresql"
    else:
        if fmt not in FORMATS:
            raise ValueError(f"--format is one of {', '.join(FORMATS)}, not {fmt!r}")
        if out is None:
            out = files.directory / "export" / (f"{run_id}.sqlite3" if fmt == "sqlite" else fmt)
        target = str(_write(tables, fmt, out, files))
    rows = {name: table.num_rows for name, table in tables.items()}
    return Exported(run_id, fmt, target, rows, time.perf_counter() - started)


def _write(tables: dict[str, pa.Table], fmt: str, out: Path, files: RecordFiles) -> Path:
    if fmt == "sqlite":
        out.parent.mkdir(parents=True, exist_ok=True)
        _sqlite(tables, out)
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if fmt == "parquet":
            shutil.copyfile(files.directory / f"{name}.parquet", out / f"{name}.parquet")
        elif fmt == "csv":
            pacsv.write_csv(_flat(table), out / f"{name}.csv")
        else:
            with open(out / f"{name}.jsonl", "wb") as lines:
                for batch in table.to_batches(65_536):
                    lines.writelines(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE) for row in batch.to_pylist())
    return out


def _flat(table: pa.Table) -> pa.Table:
    """List columns as JSON text (formats without lists)."""
    for index, column in enumerate(table.schema):
        if pa.types.is_list(column.type):
            values = table[column.name].to_pylist()
            texts = [None if value is None else orjson.dumps(value).decode() for value in values]
            table = table.set_column(index, column.name, pa.array(texts, pa.string()))
    return table


def _sql_type(data_type: pa.DataType, postgres: bool = False) -> str:
    if pa.types.is_integer(data_type):
        return "BIGINT" if postgres else "INTEGER"
    if pa.types.is_floating(data_type):
        return "DOUBLE PRECISION" if postgres else "REAL"
    if pa.types.is_boolean(data_type):
        return "BOOLEAN" if postgres else "INTEGER"
    return "TEXT"


def _sqlite(tables: dict[str, pa.Table], path: Path) -> None:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    # A new file written once: no journal, no fsync per transaction (an export cut short is written again).
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    try:
        for name, table in tables.items():
            flat = _flat(table)
            columns = ", ".join(f'"{c.name}" {_sql_type(c.type)}' for c in flat.schema)
            db.execute(f'CREATE TABLE "{name}" ({columns})')
            marks = ", ".join("?" * flat.num_columns)
            for batch in flat.to_batches(65_536):
                db.executemany(f'INSERT INTO "{name}" VALUES ({marks})', zip(*batch.to_pydict().values(), strict=True))
        db.commit()
    finally:
        db.close()


def _postgres(tables: dict[str, pa.Table], run_id: str, dsn: str) -> str:
    """Into tables ``swarmstream_<name>`` with a ``run_id`` column: the run's rows replace its earlier export."""
    import psycopg

    with psycopg.connect(dsn) as db, db.transaction():
        for name, table in tables.items():
            flat = _flat(table)
            target = f"swarmstream_{name}"
            columns = ", ".join(f'"{c.name}" {_sql_type(c.type, postgres=True)}' for c in flat.schema)
            db.execute(f'CREATE TABLE IF NOT EXISTS "{target}" (run_id TEXT NOT NULL, {columns})')
            db.execute(f'DELETE FROM "{target}" WHERE run_id = %s', (run_id,))
            names = ", ".join(f'"{c.name}"' for c in flat.schema)
            with db.cursor().copy(f'COPY "{target}" (run_id, {names}) FROM STDIN') as copy:
                for batch in flat.to_batches(65_536):
                    for row in zip(*batch.to_pydict().values(), strict=True):
                        copy.write_row((run_id, *row))
    return f"PostgreSQL tables swarmstream_<table> (run_id {run_id})"
