"""Reading a request record's size before decoding it."""

from __future__ import annotations

import msgpack

from streams.request_records import request_count
from swarmstream import codec
from swarmstream.events import InteractionRequested, InteractionsRequested


def test_a_bulk_record_counts_its_requests_and_anything_else_counts_one():
    requests = [InteractionRequested(agent_id=f"agent-{i}", context="hi") for i in range(7)]
    assert request_count(codec.encode(InteractionsRequested(requests=requests))) == 7
    assert request_count(codec.encode(requests[0])) == 1
    for bad in (None, b"", b"\xc1", b"not msgpack", msgpack.packb([1, 2, 3]), msgpack.packb({"requests": 5})):
        assert request_count(bad) == 1
    # Cut short before its list: 1 (the decoding that follows dead-letters it).
    assert request_count(codec.encode(InteractionsRequested(requests=requests))[:2]) == 1
