"""msgpack encoding of :mod:`swarmstream.events`, with the Kafka headers that describe it."""

from __future__ import annotations

from typing import TypeVar

import msgpack
from pydantic import ValidationError

from swarmstream.events import EVENT_TYPES, SCHEMA_VERSION, Event

CONTENT_TYPE = "application/x-msgpack"

E = TypeVar("E", bound=Event)


class DecodeError(ValueError):
    """Bytes that are not a valid event; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode(event: Event) -> bytes:
    return msgpack.packb(event.model_dump(mode="python"), use_bin_type=True)


def headers(event: Event) -> list[tuple[str, bytes]]:
    return [
        ("content-type", CONTENT_TYPE.encode()),
        ("event-type", event.type.encode()),  # type: ignore[attr-defined]
        ("schema-version", str(event.schema_version).encode()),
    ]


def decode(data: bytes | None, *expected: type[E]) -> E:
    """Decode one event; ``expected`` restricts which event classes are acceptable."""
    if not data:
        raise DecodeError("malformed_payload", "empty value")
    try:
        fields = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for bad bytes
        raise DecodeError("malformed_payload", f"not msgpack: {exc}") from None
    if not isinstance(fields, dict):
        raise DecodeError("malformed_payload", f"expected a map, got {type(fields).__name__}")
    version = fields.get("schema_version")
    if version != SCHEMA_VERSION:
        raise DecodeError(
            "unsupported_schema_version", f"schema_version {version!r}, this build reads {SCHEMA_VERSION}"
        )
    cls = EVENT_TYPES.get(fields.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise DecodeError("unknown_event_type", f"type {fields.get('type')!r}")
    if expected and cls not in expected:
        names = ", ".join(sorted(c.model_fields["type"].default for c in expected))
        raise DecodeError("unexpected_event_type", f"type {fields['type']!r} on a topic for {names}")
    try:
        return cls.model_validate(fields)  # type: ignore[return-value]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise DecodeError("invalid_fields", problems) from None
