from __future__ import annotations

import math

import msgpack
import msgspec
import pytest
from pydantic_core import PydanticUndefined

from swarmstream import codec
from swarmstream.events import InteractionResponded
from swarmstream.responses_codec import RespondedRecord, decode_responded

RESPONSE = InteractionResponded(
    agent_id="a1", target_agent_id="a2", kind="friend_request", content="yes", model="m", prompt_tokens=3,
    completion_tokens=1, llm_latency_ms=12.5, llm_inflight=4, request_created_at=1.0, decision="accept",
    run_id="run", round=2, read_from=["a3"], feed=["p1"], started=["r9"],
)  # fmt: skip
FIELDS = RESPONSE.model_dump(mode="python")
# What pydantic creates when the record lacks them: fresh each time, so not compared.
FRESH = {"event_id", "request_id", "created_at"}
ODD_VALUES = [None, "", "x" * 129, "60", -1, 0, 1, 1.5, 2.0, True, math.nan, [], ["a"], [1], {"a": 1}, b"raw"]


def test_the_record_declares_the_event_s_fields_and_defaults():
    fields = {f.name: f for f in msgspec.structs.fields(RespondedRecord)}
    assert list(fields) == list(InteractionResponded.model_fields)
    for name, info in InteractionResponded.model_fields.items():
        if name == "schema_version":
            assert fields[name].default is None, "a record must say its version: none is not the current one"
        elif name == "type":
            assert fields[name].required, "the codec reads a record's type from the record"
        elif info.default_factory is not None:
            assert fields[name].default_factory is not msgspec.NODEFAULT, name
        elif info.default is PydanticUndefined:
            assert fields[name].required, name
        else:
            assert fields[name].default == info.default, name


def test_a_plain_response_takes_the_fast_path_with_the_same_fields():
    decoded = decode_responded(codec.encode(RESPONSE))
    assert isinstance(decoded, RespondedRecord)
    assert msgspec.structs.asdict(decoded) == FIELDS


def _variants():
    for name in FIELDS:
        yield f"{name} missing", {k: v for k, v in FIELDS.items() if k != name}
        for value in ODD_VALUES:
            yield f"{name}={value!r}", {**FIELDS, name: value}
    yield "unknown field", {**FIELDS, "surprise": 1}
    yield "schema 2", {**FIELDS, "schema_version": 2}
    yield "another type", {**FIELDS, "type": "interaction.requested"}


def _outcome(decode, data):
    try:
        event = decode(data)
    except codec.DecodeError as error:
        return ("refused", error.reason)
    if isinstance(event, InteractionResponded):
        fields = event.model_dump(mode="python")
    else:
        fields = msgspec.structs.asdict(event)
    return ("accepted", {k: v for k, v in fields.items() if k not in FRESH})


@pytest.mark.parametrize(("case", "fields"), list(_variants()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_variant_of_every_field_decodes_as_pydantic_decodes_it(case, fields):
    data = msgpack.packb(fields, use_bin_type=True)
    expected = _outcome(lambda d: codec.decode(d, InteractionResponded), data)
    got = _outcome(decode_responded, data)
    if expected[0] == "accepted" and got[0] == "accepted":
        # NaN is never equal to itself: compare what both read, field by field.
        assert {k: repr(v) for k, v in got[1].items()} == {k: repr(v) for k, v in expected[1].items()}
    else:
        assert got == expected


def test_bad_bytes_are_refused_with_the_codec_s_reasons():
    for data, reason in [(b"", "malformed_payload"), (None, "malformed_payload"), (b"\xc1", "malformed_payload")]:
        with pytest.raises(codec.DecodeError) as raised:
            decode_responded(data)
        assert raised.value.reason == reason
