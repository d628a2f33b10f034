"""Friend-request replies: structured answers, answers in words, and malformed ones (declines)."""

from __future__ import annotations

import pytest

from streams.decisions import parse_decision
from swarmstream.llm.simulator import reply_for
from swarmstream.prompt_contract import FRIEND_REQUEST_INSTRUCTION


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"accept": true, "reason": "we both like chess"}', ("accept", False)),
        ('{"accept": false, "reason": "too busy"}', ("decline", False)),
        ('Sure!\n```json\n{"accept": true}\n```', ("accept", False)),
        ('{"reason": "x"} then {"accept": false}', ("decline", False)),
        ("Accept! Nice to meet you.", ("accept", False)),
        ("**Yes**, gladly", ("accept", False)),
        ("No thanks.", ("decline", False)),
        ('{"accept": "yes"}', ("decline", True)),
        ("{not json at all", ("decline", True)),
        ("Maybe later, who knows.", ("decline", True)),
        ("", ("decline", True)),
    ],
)
def test_replies_are_read_as_accept_or_decline(reply, expected):
    assert parse_decision(reply) == expected


def test_the_simulator_answers_friend_requests_mostly_in_json():
    outcomes = [
        parse_decision(reply_for([{"role": "user", "content": f"Agent {n} asks. {FRIEND_REQUEST_INSTRUCTION}"}], 50))
        for n in range(400)
    ]
    accepted = sum(decision == "accept" for decision, _ in outcomes)
    malformed = sum(bad for _, bad in outcomes)
    assert 200 < accepted < 350 and 5 < malformed < 40
