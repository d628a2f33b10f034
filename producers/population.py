"""A population of one's own: agents read from CSV, JSON lines or Parquet, every row checked first.

Columns: ``id`` (1 to 128 characters), ``name``, ``persona`` (not empty), ``interests`` and ``traits`` (lists:
in CSV a JSON array or values separated by ``;``), ``community``, ``activity`` (0 to 1, the chance of acting
in a round) or ``activity_hours`` (24 such chances, by the hour of the day), ``model``; any other column is
kept as the agent's attributes. A file is read as a stream, never whole: rows are checked in a first pass
(:func:`check`), and published in a second (:func:`agent_events`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from swarmstream.batching import by_partition
from swarmstream.events import SCHEMA_VERSION, AgentsCreated, AgentSpec, AgentUpdated, derived_id, new_id

KNOWN = ("id", "name", "persona", "interests", "traits", "community", "activity", "activity_hours", "model")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class Rejection:
    """One bad row: where (the file's line, or a Parquet file's row), which field, and why."""

    path: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.reason}"


class BadPopulation(ValueError):
    """Rows that cannot be agents: each named, with its line; nothing was published."""

    def __init__(self, rejections: list[Rejection], rows: int, skippable: bool = True):
        self.rejections = rejections
        shown = "\n".join(map(str, rejections[:1000]))
        more = f"\n... and {len(rejections) - 1000:,} more" if len(rejections) > 1000 else ""
        skip = "; --skip-invalid publishes the others" if skippable else ""
        bad_rows = len({(rejection.path, rejection.line) for rejection in rejections})
        super().__init__(f"{bad_rows:,} bad rows of {rows:,} (nothing published{skip}):\n{shown}{more}")


REQUIRED = ("id", "name", "persona")


def rows(path: Path, required: tuple[str, ...] = REQUIRED) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    """Each row of ``path`` with its line number (Parquet: its row number), or why it cannot be read; a file
    without one of the ``required`` columns is one rejection, of its header."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: a .csv, .jsonl or .parquet file, not {path.suffix or 'one without a suffix'}")
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if fmt == "parquet":
        yield from _parquet_rows(path, required)
    elif fmt == "csv":
        yield from _csv_rows(path, required)
    else:
        yield from _jsonl_rows(path)


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    with open(path, "rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
        reader = csv.DictReader(text)
        try:
            header = reader.fieldnames
            if not header:
                yield 1, Rejection(str(path), 1, "(header)", "the file is empty: a header row names the columns")
                return
            missing = [name for name in required if name not in header]
            if missing:
                has = ", ".join(header)
                yield 1, Rejection(str(path), 1, "(header)", f"no column {', '.join(missing)} (it has {has})")
                return
            line = 1
            for row in reader:
                line = reader.line_num
                if None in row:
                    values = len(row[None]) + len(header)  # type: ignore[arg-type]
                    yield line, Rejection(str(path), line, "(row)", f"{values} values, the header has {len(header)}")
                    continue
                if any(value is None for value in row.values()):
                    yield line, Rejection(str(path), line, "(row)", f"fewer values than the header's {len(header)}")
                    continue
                yield line, row
        except UnicodeDecodeError as exc:
            line = reader.line_num + 1
            yield line, Rejection(str(path), line, "(file)", f"not UTF-8: {exc.reason} at byte {exc.start}")


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    with open(path, "rb") as lines:
        for line, data in enumerate(lines, 1):
            if not data.strip():
                continue
            try:
                row = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                reason = "not UTF-8" if isinstance(exc.__cause__, UnicodeDecodeError) else f"not JSON ({exc})"
                yield line, Rejection(str(path), line, "(row)", reason)
                continue
            if not isinstance(row, dict):
                yield line, Rejection(str(path), line, "(row)", f"a JSON object, not {type(row).__name__}")
                continue
            yield line, row


def _parquet_rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    missing = [name for name in required if name not in table.schema_arrow.names]
    if missing:
        yield 0, Rejection(str(path), 0, "(schema)", f"no column {', '.join(missing)}")
        return
    number = 0
    for batch in table.iter_batches(batch_size=65_536):
        for row in batch.to_pylist():
            number += 1
            yield number, row


def _texts(value: Any) -> list[Any]:
    """A list column: a list, a JSON array, values separated by ``;``, or nothing."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            parsed = orjson.loads(text)
            if not isinstance(parsed, list):
                raise ValueError("a JSON array, or values separated by ;")
            return parsed
        return [part.strip() for part in text.split(";") if part.strip()]
    raise ValueError(f"a list, not {type(value).__name__}")


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("a number, not true or false")
    number = float(value)
    if math.isnan(number):
        raise ValueError("a number, not NaN")
    return number


_SCALARS = (str, int, float, bool)


def spec_of(row: dict[str, Any], path: str, line: int) -> AgentSpec | list[Rejection]:
    """The agent a row describes, or every reason it cannot be one."""
    bad: list[Rejection] = []

    def reject(field_name: str, reason: str) -> None:
        bad.append(Rejection(path, line, field_name, reason))

    fields: dict[str, Any] = {}
    for name in ("id", "name", "persona"):
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            reject(name, "missing or empty" if value in (None, "") else f"text, not {type(value).__name__}")
        else:
            fields[name] = value.strip() if name != "persona" else value
    for name in ("interests", "traits"):
        try:
            fields[name] = [str(item) for item in _texts(row.get(name))]
        except (ValueError, orjson.JSONDecodeError) as exc:
            reject(name, str(exc))
    for name in ("community", "model"):
        value = row.get(name)
        fields[name] = None if value in (None, "") else str(value)
    try:
        fields["activity"] = _number(row.get("activity"))
    except (TypeError, ValueError) as exc:
        reject("activity", f"{exc}")
    try:
        hours = _texts(row.get("activity_hours"))
        fields["activity_hours"] = [float(hour) for hour in hours] if hours else None
    except (TypeError, ValueError, orjson.JSONDecodeError) as exc:
        reject("activity_hours", f"24 numbers from 0 to 1 ({exc})")
    if fields.get("activity") is not None and fields.get("activity_hours") is not None:
        reject("activity", "give activity or activity_hours, not both")
    attributes = {}
    for name, value in row.items():
        if name in KNOWN or value is None or value == "":
            continue
        if not isinstance(value, _SCALARS):
            reject(name, f"an attribute is a text, a number or true/false, not {type(value).__name__}")
        else:
            attributes[str(name)] = value
    fields["attributes"] = attributes
    if bad:
        return bad
    try:
        return AgentSpec(agent_id=fields.pop("id"), **fields)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(map(str, error["loc"])) or "(row)"
            reject("id" if where == "agent_id" else where, error["msg"])
        return bad


@dataclass
class Checked:
    """The first pass over a file: how many rows, and every bad one."""

    rows: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    bad_lines: set[int] = field(default_factory=set)


Source = Path | Sequence[Mapping[str, Any]]


def name_of(source: Source) -> str:
    """How rejections name where a row is: the file, or ``rows`` (a row's number counts from 1)."""
    return str(source) if isinstance(source, Path) else "rows"


def numbered(source: Source) -> Iterator[tuple[int, dict[str, Any] | Rejection]]:
    """The rows of a file (with their lines), or of a sequence of mappings (numbered from 1)."""
    if isinstance(source, Path):
        yield from rows(source)
        return
    for number, row in enumerate(source, 1):
        if isinstance(row, Mapping):
            yield number, dict(row)
        else:
            yield number, Rejection("rows", number, "(row)", f"a mapping of column to value, not {type(row).__name__}")


def check(source: Source) -> Checked:
    """Every row of ``source`` checked, duplicate ids too (the first keeps its id), nothing published."""
    found = Checked()
    seen: dict[str, int] = {}
    where = name_of(source)
    for line, row in numbered(source):
        found.rows += 1
        if isinstance(row, Rejection):
            found.rejections.append(row)
            found.bad_lines.add(line)
            continue
        spec = spec_of(row, where, line)
        if isinstance(spec, list):
            found.rejections.extend(spec)
            found.bad_lines.add(line)
            continue
        first = seen.setdefault(spec.agent_id, line)
        if first != line:
            again = f"{spec.agent_id!r} again (first on line {first})"
            found.rejections.append(Rejection(where, line, "id", again))
            found.bad_lines.add(line)
    return found


def specs(source: Source, skip: set[int]) -> Iterator[AgentSpec]:
    """The agents of ``source`` (checked already), but for the rows on ``skip``'s lines."""
    where = name_of(source)
    for line, row in numbered(source):
        if line in skip or isinstance(row, Rejection):
            continue
        spec = spec_of(row, where, line)
        if isinstance(spec, AgentSpec):
            yield spec


def digest(spec: AgentSpec) -> bytes:
    """What an agent's row says, in 16 bytes: an unchanged row has the same."""
    return hashlib.blake2b(orjson.dumps(spec.model_dump(), option=orjson.OPT_SORT_KEYS), digest_size=16).digest()


@dataclass
class Imported:
    """What an import publishes, or would: agents created, updated (their rows changed), unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


def agent_events(
    agents: Iterable[AgentSpec], known: dict[str, bytes], partitions: int, batch_size: int, counts: Imported
) -> Iterator[AgentsCreated | AgentUpdated]:
    """The events that make the population hold ``agents``: bulk creations of the new ones (by partition), an
    update of each whose row changed, nothing for the others. ``known``: what each agent's last import said
    (:func:`digest`). Ids derive from what the rows say: the same file imported again publishes the same."""

    def new(spec: AgentSpec) -> bool:
        said = known.get(spec.agent_id)
        if said is None:
            counts.created += 1
            return True
        if said == digest(spec):
            counts.unchanged += 1
        else:
            counts.updated += 1
            changes.append(_update(spec))
        return False

    changes: list[AgentUpdated] = []
    for group in by_partition((s for s in agents if new(s)), lambda spec: spec.agent_id, partitions, batch_size):
        yield AgentsCreated.model_construct(
            event_id=derived_id("agents.imported", group[0].agent_id, len(group), digest(group[-1]).hex()),
            schema_version=SCHEMA_VERSION,
            created_at=time.time(),
            request_id=new_id(),
            type="agents.created",
            agents=group,
        )
        yield from changes
        changes.clear()
    yield from changes


def _update(spec: AgentSpec) -> AgentUpdated:
    event_id = derived_id("agent.imported", spec.agent_id, digest(spec).hex())
    return AgentUpdated(event_id=event_id, agent_id=spec.agent_id, **spec.model_dump(exclude={"agent_id"}))


def row_of(spec: AgentSpec) -> dict[str, Any]:
    """The row that describes ``spec``, as a file would give it (its attributes as columns)."""
    fields = spec.model_dump(exclude={"agent_id", "attributes"})
    clash = sorted(set(spec.attributes) & set(KNOWN))
    if clash:
        raise ValueError(f"agent {spec.agent_id!r}: an attribute may not be named {', '.join(clash)}")
    return {**spec.attributes, "id": spec.agent_id, **fields}


def profile_digest(profile: dict[str, Any]) -> bytes:
    """:func:`digest` of the agent a stored profile holds (``swarmstream.profile_format``)."""
    hours = profile.get("activity_hours")
    spec = AgentSpec(
        agent_id=profile["agent_id"], name=profile["name"], persona=profile["persona"],
        traits=list(profile["traits"]), interests=list(profile["interests"]), community=profile["community"],
        activity=profile.get("activity"), activity_hours=list(hours) if hours is not None else None,
        model=profile.get("model"), attributes=dict(profile.get("attributes") or {}),
    )  # fmt: skip
    return digest(spec)
