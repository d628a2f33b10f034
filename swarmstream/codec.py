"""msgpack encoding of :mod:`swarmstream.events`, with the Kafka headers that describe it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgpack
import msgspec
from pydantic import ValidationError

from swarmstream.events import EVENT_TYPES, SCHEMA_VERSION, Event

CONTENT_TYPE = "application/x-msgpack"

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class EnvelopeIds:
    """The ids a record's map carries, each only where it is a usable id (a string of 1 to 128 characters).

    What a dead letter of an event that failed validation can still say about it: the publisher
    waiting for ``request_id`` hears back even when the rest of its event is wrong.
    """

    event_id: str | None = None
    request_id: str | None = None
    agent_id: str | None = None

    @classmethod
    def of(cls, fields: Mapping[Any, Any] | Event | None) -> EnvelopeIds:
        if fields is None:
            return cls()
        if isinstance(fields, Event):
            return cls(fields.event_id, fields.request_id, getattr(fields, "agent_id", None))
        return cls(*(_usable_id(fields.get(name)) for name in ("event_id", "request_id", "agent_id")))


def _usable_id(value: object) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= 128 else None


class DecodeError(ValueError):
    """Bytes that are not a valid event; ``reason`` is a stable machine-readable code.

    ``fields`` is the decoded map when the bytes were one (None for bytes that are not a msgpack map).
    """

    def __init__(self, reason: str, detail: str, fields: dict[Any, Any] | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.fields = fields

    @property
    def ids(self) -> EnvelopeIds:
        return EnvelopeIds.of(self.fields)


def encode(event: Event) -> bytes:
    return msgpack.packb(event.model_dump(mode="python"), use_bin_type=True)


@dataclass(frozen=True, slots=True)
class Encoded:
    """A record ready to send: its key, value and event type; ``size`` counts what it holds (agents, requests)."""

    key: bytes | None
    value: bytes
    type: str
    size: int = 1
    schema_version: int = SCHEMA_VERSION

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return type_headers(self.type, self.schema_version)


def encoded(event: Event) -> Encoded:
    """``event`` as the record that carries it."""
    return Encoded(event.key, encode(event), event.type, event.size, event.schema_version)  # type: ignore[attr-defined]


# A record a worker forwarded to the partition its key hashes to, and from where (the wire contract):
# "<partition>:<offset>:<index>" of the record first read (index: of its first event there).
FORWARDED_HEADER = "swarmstream-forwarded"


def event_type(headers: Iterable[tuple[str, bytes]] | None) -> bytes | None:
    """A record's ``event-type`` header (what :func:`headers` wrote); None for a record without one."""
    for name, value in headers or ():
        if name == "event-type":
            return bytes(value)
    return None


def headers(event: Event) -> list[tuple[str, bytes]]:
    return type_headers(event.type, event.schema_version)  # type: ignore[attr-defined]


def type_headers(kind: str, schema_version: int = SCHEMA_VERSION) -> list[tuple[str, bytes]]:
    """The headers of a record holding an event of type ``kind``."""
    return [
        ("content-type", CONTENT_TYPE.encode()),
        ("event-type", kind.encode()),
        ("schema-version", str(schema_version).encode()),
    ]


def decode(data: bytes | None, *expected: type[E]) -> E:
    """Decode one event; ``expected`` restricts which event classes are acceptable."""
    return validate(unpack(data), *expected)


def decode_mirrored(mirror: msgspec.msgpack.Decoder[Any], data: bytes | None, *expected: type[E]) -> Any:
    """One of the ``expected`` events: through ``mirror``, a msgspec decoder of a struct mirroring one of them
    (fast), or, for a record the mirror refuses (another event, another schema version, a bad one), by pydantic,
    which names what is wrong."""
    if data:
        try:
            record = mirror.decode(data)
        except msgspec.MsgspecError:
            pass
        else:
            if record.schema_version == SCHEMA_VERSION:
                return record
    return decode(data, *expected)


def unpack(data: bytes | None) -> dict[Any, Any]:
    """The record's msgpack map, not yet validated; :class:`DecodeError` when it is not one.

    A map whose keys are not all strings is still a map: valid msgpack, whose ids are read and whose
    odd keys fail validation as unknown fields (``invalid_fields``), not as undecodable bytes. Keys
    that Python cannot hold as keys (an array, a map) are kept as their ``repr``.
    """
    if not data:
        raise DecodeError("malformed_payload", "empty value")
    try:
        fields = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except TypeError:  # an unhashable key (an array or a map): read again, keeping such keys as text
        try:
            fields = msgpack.unpackb(data, raw=False, strict_map_key=False, object_pairs_hook=_pairs)
        except Exception as exc:
            raise DecodeError("malformed_payload", f"not msgpack: {exc}") from None
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise DecodeError("malformed_payload", f"not msgpack: {exc}") from None
    if not isinstance(fields, dict):
        raise DecodeError("malformed_payload", f"expected a map, got {type(fields).__name__}")
    return fields


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    return {key if isinstance(key, str | bytes | int | float | bool) or key is None else repr(key): value
            for key, value in pairs}  # fmt: skip


def validate(fields: dict[Any, Any], *expected: type[E]) -> E:
    """The event a decoded map holds; :class:`DecodeError` (carrying the map) when it holds none."""
    version = fields.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DecodeError(
            "unsupported_schema_version", f"schema_version {version!r}, this build reads {SCHEMA_VERSION}", fields
        )
    kind = fields.get("type")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise DecodeError("unknown_event_type", f"type {kind!r}", fields)
    if expected and cls not in expected:
        names = ", ".join(sorted(c.model_fields["type"].default for c in expected))
        raise DecodeError("unexpected_event_type", f"type {kind!r} on a topic for {names}", fields)
    try:
        return cls.model_validate(fields)  # type: ignore[return-value]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DecodeError("invalid_fields", problems, fields) from None
