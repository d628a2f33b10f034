"""Reading a request record: one request, or a bulk record's many, each bad request kept apart.

A bulk record is a container: one request with a missing field must not take the others down, nor
be dead-lettered without its own ``request_id``. So a bulk record that fails validation is read
again request by request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

from swarmstream import codec
from swarmstream.codec import DecodeError
from swarmstream.events import InteractionRequested, InteractionsRequested
from swarmstream.topic_values import REQUESTS


@dataclass(frozen=True)
class BadRequest:
    """A request, or a whole record, that is not a valid request; dead-lettered with ``error``.

    ``index`` is its place in a bulk record, with ``value`` and ``key`` its own bytes and speaker;
    None for the whole record (its own bytes and key then).
    """

    error: DecodeError
    index: int | None = None
    value: bytes | None = None
    key: bytes | None = None


@dataclass
class RequestRecord:
    """What a record on the requests topic holds: ``(index, request)`` pairs, and what was bad in it."""

    batched: bool
    requests: list[tuple[int, InteractionRequested]] = field(default_factory=list)
    bad: list[BadRequest] = field(default_factory=list)


def read_request_record(value: bytes | None) -> RequestRecord:
    try:
        fields = codec.unpack(value)
    except DecodeError as exc:
        return RequestRecord(False, bad=[BadRequest(exc)])
    try:
        decoded = codec.validate(fields, *REQUESTS.holds)
    except DecodeError as exc:
        inner = fields.get("requests") if fields.get("type") == "interactions.requested" else None
        if isinstance(inner, list) and inner:
            return _split(fields, inner, exc)
        return RequestRecord(False, bad=[BadRequest(exc)])
    if isinstance(decoded, InteractionsRequested):
        return RequestRecord(True, list(enumerate(decoded.requests)))
    return RequestRecord(False, [(0, decoded)])


def request_count(value: bytes | None) -> int:
    """How many requests a record holds, from its bulk list's header alone; 1 for any other record.

    Nothing is decoded but the envelope's keys: a record waiting for room stays bytes, yet counts
    as the requests it will start.
    """
    if not value:
        return 1
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(value)
    try:
        for _ in range(unpacker.read_map_header()):
            if unpacker.unpack() == "requests":
                return max(1, unpacker.read_array_header())
            unpacker.skip()
    except Exception:  # msgpack raises several unrelated types for bad bytes; decoding will say which
        return 1
    return 1


def _split(fields: dict[Any, Any], inner: list[Any], whole: DecodeError) -> RequestRecord:
    """A bulk record that failed validation, read request by request."""
    record = RequestRecord(True)
    for index, item in enumerate(inner):
        if not isinstance(item, dict):
            error = DecodeError("invalid_fields", f"requests.{index}: not a map")
            record.bad.append(BadRequest(error, index, _pack(item)))
            continue
        try:
            record.requests.append((index, codec.validate(item, InteractionRequested)))
        except DecodeError as exc:
            error = DecodeError(exc.reason, f"requests.{index}: {exc.detail}", item)
            record.bad.append(BadRequest(error, index, _pack(item), _key(item)))
    if record.requests:
        # The envelope alone: the record with only its good requests.
        try:
            codec.validate({**fields, "requests": [request for _, request in record.requests]}, InteractionsRequested)
            return record
        except DecodeError as exc:
            whole = exc
    # The envelope itself is bad: every request in it is dead-lettered, each with its own ids.
    for index, request in record.requests:
        error = DecodeError(whole.reason, f"the bulk record: {whole.detail}", request.model_dump())
        record.bad.append(BadRequest(error, index, codec.encode(request), request.key))
    record.requests = []
    record.bad.sort(key=lambda bad: bad.index or 0)
    return record


def _pack(item: Any) -> bytes:
    return msgpack.packb(item, use_bin_type=True)


def _key(item: dict[Any, Any]) -> bytes | None:
    agent = codec.EnvelopeIds.of(item).agent_id
    return agent.encode() if agent else None
