"""Bulk agent creations fast: a msgspec mirror of :class:`AgentsCreated`, for readers and importers of a population.

The readers of a whole population (a run's record, each round's acting set) decode every agent; pydantic's
validation is most of that cost. :class:`AgentsCreatedRecord` declares the same fields, types, bounds and
defaults, and msgspec checks them while it decodes. A record it refuses goes to
:func:`swarmstream.codec.decode`, so whatever pydantic accepts is still accepted, and what it refuses raises
the same :class:`~swarmstream.codec.DecodeError`. A test keeps the two in step. An import of a million rows
encodes its creations with the same mirror (:func:`encode_created`): the bytes pydantic's would be.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import msgspec

from swarmstream import codec
from swarmstream.events import SCHEMA_VERSION, AgentsCreated, Event, new_id

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
_Text = Annotated[str, msgspec.Meta(max_length=32_768)]
_Chance = Annotated[float, msgspec.Meta(ge=0, le=1)]
_Attribute = Annotated[str, msgspec.Meta(max_length=4_096)] | int | float | bool | None


class AgentSpecRecord(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """The fields of :class:`~swarmstream.events.AgentSpec`, attribute for attribute."""

    agent_id: _Id
    name: _Name
    persona: _Text = ""
    traits: Annotated[list[str], msgspec.Meta(max_length=64)] = []
    interests: Annotated[list[str], msgspec.Meta(max_length=64)] = []
    community: str | None = None
    activity: _Chance | None = None
    activity_hours: Annotated[list[_Chance], msgspec.Meta(min_length=24, max_length=24)] | None = None
    model: _Name | None = None
    attributes: Annotated[dict[str, _Attribute], msgspec.Meta(max_length=256)] = {}


class AgentsCreatedRecord(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """The fields of :class:`~swarmstream.events.AgentsCreated`, as read from a record."""

    event_id: _Id = msgspec.field(default_factory=new_id)
    schema_version: int | None = None
    created_at: float = msgspec.field(default_factory=time.time)
    request_id: _Id = msgspec.field(default_factory=new_id)
    type: Literal["agents.created"]
    agents: Annotated[list[AgentSpecRecord], msgspec.Meta(min_length=1, max_length=10_000)]


_decoder = msgspec.msgpack.Decoder(AgentsCreatedRecord)
Created = AgentsCreatedRecord | AgentsCreated


def decode_created(data: bytes | None, *also: type[Event]) -> Created | Event:
    """A bulk creation record (through the mirror), or one of the events ``also`` names (by pydantic);
    :class:`~swarmstream.codec.DecodeError` when it is none of them."""
    return codec.decode_mirrored(_decoder, data, AgentsCreated, *also)


_encoder = msgspec.msgpack.Encoder()


def encode_created(event_id: str, agents: list[AgentSpecRecord]) -> codec.Encoded:
    """The record of a bulk creation of ``agents`` (checked already, all of one partition)."""
    record = AgentsCreatedRecord(event_id=event_id, schema_version=SCHEMA_VERSION, type="agents.created", agents=agents)
    return codec.Encoded(agents[0].agent_id.encode(), _encoder.encode(record), record.type, len(agents))
