"""An act's reply read as an action: tolerant of prose around the JSON, strict about what the action needs."""

from __future__ import annotations

import pytest

from streams.actions import Action, parse_action


@pytest.mark.parametrize(
    ("reply", "action"),
    [
        ('{"action": "post", "text": "Sunny today."}', Action("post", text="Sunny today.")),
        ('Sure! ```{"action": "message", "to": "b", "text": "Hi"}```', Action("message", to="b", text="Hi")),
        ('{"action": "befriend", "to": "c"}', Action("befriend", to="c")),
        ('{"action": "none"}', Action("none")),
        ("I would rather not.", Action("none", malformed=True)),
        ('{"action": "post", "text": ""}', Action("none", malformed=True)),
        ('{"action": "message", "to": "me", "text": "Hi me"}', Action("none", malformed=True)),
        ('{"action": "befriend"}', Action("none", malformed=True)),
        ('{"action": "dance"}', Action("none", malformed=True)),
    ],
)
def test_replies_become_actions_or_malformed_nones(reply, action):
    assert parse_action(reply, speaker="me", text_chars=200) == action


def test_text_is_cut():
    assert parse_action('{"action": "post", "text": "' + "x" * 500 + '"}', "me", 20).text == "x" * 20
