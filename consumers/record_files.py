"""A run's record on disk (``DATA_DIR/runs/RUN_ID/record``): parts while the run goes on, then its tables.

While the run goes on, the record consumer writes each batch's rows as Parquet parts
(``parts/<raw table>/*.parquet``); a batch read again after a crash writes its rows again, in another
part. :meth:`RecordFiles.compact` deduplicates the raw tables on their keys (``raw/<name>.parquet``),
makes the study's tables (``<name>.parquet``, one file per table) and removes the parts it folded in;
it can run again later (a resumed run adds parts). Everything is written to a temporary name and
renamed, so a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterable
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from consumers.record_tables import KEYS, RAW, STUDY, study_tables

_counter = itertools.count()


class RecordFiles:
    """The record of one run, in ``directory``."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.parts = directory / "parts"
        self.raw_dir = directory / "raw"

    def exists(self) -> bool:
        return self.parts.is_dir() or self.raw_dir.is_dir()

    def has_parts(self) -> bool:
        return any(any(files) for files in self._part_files().values())

    def write_parts(self, tables: dict[str, pa.Table]) -> None:
        """One part per non-empty raw table (a batch's rows)."""
        for name, table in tables.items():
            folder = self.parts / name
            folder.mkdir(parents=True, exist_ok=True)
            _write(table, folder / f"{time.time_ns()}-{os.getpid()}-{next(_counter)}.parquet")

    def _part_files(self) -> dict[str, list[Path]]:
        return {name: sorted((self.parts / name).glob("*.parquet")) for name in RAW}

    def raw(self) -> dict[str, pa.Table]:
        """Every raw table, deduplicated on its key (the first row of each key kept), parts included."""
        tables = {}
        for name, parts in self._part_files().items():
            pieces = [pq.read_table(path) for path in [self.raw_dir / f"{name}.parquet", *parts] if path.exists()]
            if pieces:
                table = _conform(pa.concat_tables(pieces, promote_options="default"), RAW[name])
                tables[name] = dedupe(table, KEYS[name])
        return tables

    def compact(self) -> dict[str, Path]:
        """The study's tables, made from every row recorded so far; returns their files."""
        parts = self._part_files()
        raw = self.raw()
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        for name, table in raw.items():
            _write(table, self.raw_dir / f"{name}.parquet")
        study = study_tables(raw)
        paths = {}
        for name in STUDY:
            paths[name] = self.directory / f"{name}.parquet"
            _write(study[name], paths[name])
        (self.directory / "run.json").write_bytes(orjson.dumps(run_facts(raw.get("run")), option=orjson.OPT_INDENT_2))
        for path in itertools.chain.from_iterable(parts.values()):
            path.unlink(missing_ok=True)  # folded into raw/ above
        for folder in (self.parts / name for name in RAW):
            with contextlib.suppress(OSError):  # absent, or holding a part written meanwhile
                folder.rmdir()
        with contextlib.suppress(OSError):
            self.parts.rmdir()
        return paths

    def tables(self) -> dict[str, pa.Table]:
        """The study's tables, compacting first if rows arrived since the last compaction."""
        if self.has_parts() or not all((self.directory / f"{name}.parquet").exists() for name in STUDY):
            if not self.exists():
                raise FileNotFoundError(f"no record in {self.directory}")
            self.compact()
        return {name: pq.read_table(self.directory / f"{name}.parquet") for name in STUDY}


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """A raw table as this version writes it: a record written by an earlier one lacks its newer columns (null)."""
    for field in schema:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


def run_facts(events: pa.Table | None) -> dict[str, object]:
    """The run's config (``run.started``) and how it ended (the last ``run.ended``), from its log events."""
    facts: dict[str, object] = {}
    if events is None:
        return facts
    for kind, fields, created_at in sorted(
        zip(events["type"].to_pylist(), events["fields"].to_pylist(), events["created_at"].to_pylist(), strict=True),
        key=lambda row: row[2],
    ):
        if kind == "run.started":
            facts.update({k: v for k, v in orjson.loads(fields).items() if k != "type"}, started_at=created_at)
        elif kind == "run.ended":
            ended = orjson.loads(fields)
            facts.update(ended=ended["reason"], ended_detail=ended["detail"], ended_at=created_at)
    return facts


def dedupe(table: pa.Table, keys: Iterable[str]) -> pa.Table:
    """``table`` with one row per key: the first, in the table's order."""
    if table.num_rows == 0:
        return table
    numbered = table.append_column("__row", pa.array(range(table.num_rows), pa.int64()))
    first = numbered.group_by(list(keys), use_threads=False).aggregate([("__row", "min")])["__row_min"]
    return table.take(pc.take(first, pc.sort_indices(first)))


def _write(table: pa.Table, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, temporary, compression="zstd")
    os.replace(temporary, path)
