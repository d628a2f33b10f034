"""A population of one's own: agents read from CSV, JSON lines or Parquet, every row checked first.

Columns: ``id`` (1 to 128 characters), ``name``, ``persona`` (not empty), ``interests`` and ``traits`` (lists:
in CSV a JSON array or values separated by ``;``), ``community``, ``activity`` (0 to 1, the chance of acting
in a round) or ``activity_hours`` (24 such chances, by the hour of the day), ``model``; any other column is
kept as the agent's attributes. A file is read as a stream, never whole, once (:func:`prepare`): each row is
checked and, while no row is bad, encoded into the records that import it, which the caller keeps aside until
the end of the file and publishes only if every row was good.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import orjson
from pydantic import ValidationError

from swarmstream import codec
from swarmstream.agents_codec import AgentSpecRecord, encode_created
from swarmstream.batching import by_partition
from swarmstream.codec import Encoded
from swarmstream.events import AgentSpec, AgentUpdated, derived_id
from swarmstream.progress import Progress

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
        return [part for part in map(str.strip, text.split(";")) if part]
    raise ValueError(f"a list, not {type(value).__name__}")


def _strings(value: Any) -> list[str]:
    if value.__class__ is str and (text := value.strip()) and text[0] != "[":  # "a; b" (the common case, fast)
        parts = [part.strip() for part in text.split(";")]
        return [part for part in parts if part] if "" in parts else parts
    return [item if item.__class__ is str else str(item) for item in _texts(value)]


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
_KNOWN = frozenset(KNOWN)


def spec_of(row: dict[str, Any], path: str, line: int) -> AgentSpecRecord | list[Rejection]:
    """The agent a row describes, or every reason it cannot be one."""
    # Written for a million rows a minute: no closures, one look at each value.
    bad: list[Rejection] = []
    get = row.get
    fields: dict[str, Any] = {}
    for name in REQUIRED:
        value = get(name)
        if value.__class__ is not str or not (stripped := value.strip()):
            reason = "missing or empty" if value in (None, "") else f"text, not {type(value).__name__}"
            bad.append(Rejection(path, line, name, reason))
        else:
            fields[name] = value if name == "persona" else stripped
    for name in ("interests", "traits"):
        try:
            fields[name] = _strings(get(name))
        except (ValueError, orjson.JSONDecodeError) as exc:
            bad.append(Rejection(path, line, name, str(exc)))
    for name in ("community", "model"):
        value = get(name)
        fields[name] = None if value is None or value == "" else str(value)
    try:
        fields["activity"] = _number(get("activity"))
    except (TypeError, ValueError) as exc:
        bad.append(Rejection(path, line, "activity", f"{exc}"))
    hours = get("activity_hours")
    if hours is None or hours == "":
        fields["activity_hours"] = None
    else:
        try:
            fields["activity_hours"] = [float(hour) for hour in _texts(hours)] or None
        except (TypeError, ValueError, orjson.JSONDecodeError) as exc:
            bad.append(Rejection(path, line, "activity_hours", f"24 numbers from 0 to 1 ({exc})"))
    if fields.get("activity") is not None and fields.get("activity_hours") is not None:
        bad.append(Rejection(path, line, "activity", "give activity or activity_hours, not both"))
    attributes = {}
    for name, value in row.items():
        if name in _KNOWN or value is None or value == "":
            continue
        if not isinstance(value, _SCALARS):
            reason = f"an attribute is a text, a number or true/false, not {type(value).__name__}"
            bad.append(Rejection(path, line, name, reason))
        else:
            attributes[str(name)] = value
    fields["attributes"] = attributes
    if bad:
        return bad
    fields["agent_id"] = fields.pop("id")
    try:
        return msgspec.convert(fields, AgentSpecRecord)  # the mirror of AgentSpec: its checks, in C
    except msgspec.ValidationError:
        pass
    try:
        spec = AgentSpec(**fields)  # pydantic names what is wrong, as the workers would
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(map(str, error["loc"])) or "(row)"
            bad.append(Rejection(path, line, "id" if where == "agent_id" else where, error["msg"]))
        return bad
    return AgentSpecRecord(**spec.model_dump())


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


def row_count(source: Source) -> int | None:
    """How many rows ``source`` has, where that is known without reading it (Parquet, a sequence)."""
    if not isinstance(source, Path):
        return len(source)
    if FORMATS.get(source.suffix.lower()) == "parquet" and source.is_file():
        import pyarrow.parquet as pq

        return pq.ParquetFile(source).metadata.num_rows
    return None


def agents(source: Source) -> Iterator[tuple[int, AgentSpecRecord | list[Rejection]]]:
    """Each row of ``source`` with its line: the agent it describes, or every reason it cannot be one (an id
    given again too: the first row keeps it)."""
    seen: dict[str, int] = {}
    where = name_of(source)
    for line, row in numbered(source):
        spec = [row] if isinstance(row, Rejection) else spec_of(row, where, line)
        if isinstance(spec, AgentSpecRecord):
            first = seen.setdefault(spec.agent_id, line)
            if first != line:
                spec = [Rejection(where, line, "id", f"{spec.agent_id!r} again (first on line {first})")]
        yield line, spec


_SAID = ("agent_id", "name", "persona", "traits", "interests", "community", "activity", "activity_hours", "model",
         "attributes")  # fmt: skip


def _digest(said: Sequence[Any]) -> bytes:
    agent, name, persona, traits, interests, community, activity, hours, model, attributes = said
    canonical = (
        agent, name, persona, list(traits), list(interests), community,
        None if activity is None else float(activity), None if hours is None else [float(hour) for hour in hours],
        model, sorted((attributes or {}).items()),
    )  # fmt: skip
    return hashlib.blake2b(_encoder.encode(canonical), digest_size=16).digest()


_encoder = msgspec.msgpack.Encoder()


def digest(spec: AgentSpec | AgentSpecRecord) -> bytes:
    """What an agent's row says, in 16 bytes: an unchanged row has the same."""
    return _digest([getattr(spec, name) for name in _SAID])


def profile_digest(profile: Mapping[str, Any]) -> bytes:
    """:func:`digest` of the agent a stored profile holds (``swarmstream.profile_format``)."""
    return _digest([profile.get(name) for name in _SAID])


@dataclass
class Imported:
    """What an import publishes, or would: agents created, updated (their rows changed), unchanged."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class Prepared:
    """One pass over a population (:func:`prepare`): rows read, every bad one, and what publishing the good
    ones does: the agents it creates, and the digest each agent it updates will have."""

    rows: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    bad_lines: set[int] = field(default_factory=set)
    counts: Imported = field(default_factory=Imported)
    created: list[str] = field(default_factory=list)
    changed: dict[str, bytes] = field(default_factory=dict)


def prepare(
    source: Source,
    known: Mapping[str, bytes],
    partitions: int,
    batch_size: int,
    found: Prepared,
    progress: Progress | None = None,
) -> Iterator[Encoded]:
    """One pass over ``source``: every row checked, into ``found``, and the records that make the population
    hold the good ones: bulk creations of the new agents (by partition), an update of each whose row changed,
    nothing for the others. ``known``: what each agent there said (:func:`digest`). Ids derive from what the
    rows say: the same file imported again publishes the same. Nothing is published here: the caller keeps the
    records until the pass is over, and publishes none if a row was bad. ``progress`` advances by rows read."""
    changes: list[Encoded] = []

    def new() -> Iterator[AgentSpecRecord]:
        for line, spec in agents(source):
            found.rows += 1
            if progress is not None and not found.rows % 4096:
                progress.update(4096)
            if isinstance(spec, list):
                found.rejections.extend(spec)
                found.bad_lines.add(line)
                continue
            said = known.get(spec.agent_id)
            if said is None:
                found.counts.created += 1
                found.created.append(spec.agent_id)
                yield spec
            elif said == (now := digest(spec)):
                found.counts.unchanged += 1
            else:
                found.counts.updated += 1
                found.changed[spec.agent_id] = now
                changes.append(codec.encoded(_update(spec, now)))

    for group in by_partition(new(), lambda spec: spec.agent_id, partitions, batch_size):
        event_id = derived_id("agents.imported", group[0].agent_id, len(group), digest(group[-1]).hex())
        yield encode_created(event_id, group)
        yield from changes
        changes.clear()
    yield from changes
    if progress is not None:
        progress.update(found.rows % 4096)


def _update(spec: AgentSpecRecord, said: bytes) -> AgentUpdated:
    fields = {name: getattr(spec, name) for name in _SAID}
    return AgentUpdated(event_id=derived_id("agent.imported", spec.agent_id, said.hex()), **fields)


def row_of(spec: AgentSpec) -> dict[str, Any]:
    """The row that describes ``spec``, as a file would give it (its attributes as columns)."""
    fields = spec.model_dump(exclude={"agent_id", "attributes"})
    clash = sorted(set(spec.attributes) & set(KNOWN))
    if clash:
        raise ValueError(f"agent {spec.agent_id!r}: an attribute may not be named {', '.join(clash)}")
    return {**spec.attributes, "id": spec.agent_id, **fields}
