"""The fast mirror of bulk creations reads every variant of every field as pydantic reads it."""

from __future__ import annotations

import math

import msgpack
import msgspec
import pytest
from pydantic_core import PydanticUndefined

from swarmstream import codec
from swarmstream.agents_codec import AgentsCreatedRecord, AgentSpecRecord, decode_created, encode_created
from swarmstream.events import AgentsCreated, AgentSpec

SPEC = AgentSpec(
    agent_id="u1", name="Wei", persona="Renter.", traits=["careful"], interests=["housing"], community="north",
    activity=0.3, model="small", attributes={"age": 41, "district": "north", "verified": True, "score": 0.5},
)  # fmt: skip
CREATED = AgentsCreated(agents=[SPEC])
FRESH = {"event_id", "request_id", "created_at"}
ODD = [None, "", "x" * 129, "60", -1, 0, 1, 1.5, True, math.nan, [], ["a"], [1], {"a": 1}, [0.5] * 24, b"raw"]


@pytest.mark.parametrize(("record", "model"), [(AgentSpecRecord, AgentSpec), (AgentsCreatedRecord, AgentsCreated)])
def test_the_records_declare_the_models_fields_and_defaults(record, model):
    fields = {f.name: f for f in msgspec.structs.fields(record)}
    assert list(fields) == list(model.model_fields)
    for name, info in model.model_fields.items():
        if name == "schema_version":
            assert fields[name].default is None
        elif name == "type":
            assert fields[name].required
        elif info.default_factory is not None:
            default = fields[name].default_factory if fields[name].default_factory is not msgspec.NODEFAULT else None
            assert default is not None or fields[name].default == info.default_factory(), name
        elif info.default is PydanticUndefined:
            assert fields[name].required, name
        else:
            assert fields[name].default == info.default, name


def _variants():
    spec = SPEC.model_dump(mode="python")
    for name in spec:
        yield f"{name} missing", {k: v for k, v in spec.items() if k != name}
        for value in ODD:
            yield f"{name}={value!r}", {**spec, name: value}
    yield "attribute list", {**spec, "attributes": {"a": [1]}}
    yield "unknown field", {**spec, "surprise": 1}


def _outcome(decode, data):
    try:
        event = decode(data)
    except codec.DecodeError as error:
        return ("refused", error.reason)
    agents = event.agents
    fields = [a.model_dump(mode="python") if isinstance(a, AgentSpec) else msgspec.structs.asdict(a) for a in agents]
    return ("accepted", [{k: repr(v) for k, v in f.items()} for f in fields])


@pytest.mark.parametrize(("case", "spec"), list(_variants()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_variant_of_every_agent_field_decodes_as_pydantic_decodes_it(case, spec):
    fields = {**CREATED.model_dump(mode="python"), "agents": [spec]}
    data = msgpack.packb(fields, use_bin_type=True)
    assert _outcome(decode_created, data) == _outcome(lambda d: codec.decode(d, AgentsCreated), data)


def test_a_plain_creation_takes_the_fast_path():
    assert isinstance(decode_created(codec.encode(CREATED)), AgentsCreatedRecord)


def test_an_encoded_creation_is_what_pydantics_encoding_says():
    record = msgspec.convert(SPEC.model_dump(), AgentSpecRecord)
    encoded = encode_created("e1", [record, record])
    event = codec.decode(encoded.value, AgentsCreated)
    assert event.agents == [SPEC, SPEC] and event.event_id == "e1"
    ours, theirs = msgpack.unpackb(encoded.value), msgpack.unpackb(codec.encode(event))
    assert {k: v for k, v in ours.items() if k not in FRESH} == {k: v for k, v in theirs.items() if k not in FRESH}
    assert (encoded.key, encoded.size, encoded.headers) == (b"u1", 2, codec.headers(event))
