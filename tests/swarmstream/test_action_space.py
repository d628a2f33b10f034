"""A run's action space: what its prompt lists, its schema and tools, and how a space is chosen."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from swarmstream import action_space, prompt_contract
from swarmstream.action_space import ALL, act_format, choose, offered_by


def test_a_space_is_known_names_in_their_order_with_none_always_there():
    assert choose(["befriend", " post ", "like"]) == ("post", "like", "befriend", "none")
    assert choose(["none"]) == ("none",)
    with pytest.raises(ValueError, match=r"unknown action\(s\) 'likes', 'fly': choose from post, comment, like"):
        choose(["post", "likes", "fly"])
    with pytest.raises(ValueError, match="no action given"):
        choose([" ", ""])


def test_the_instruction_lists_only_the_offered_actions_and_the_fields_they_use():
    every = act_format().instruction
    assert prompt_contract.listed(every, action_space.ACTIONS_LABEL) == list(ALL)
    assert '"to": "<an agent id>"' in every and "befriend: ask an agent to be your friend (to, text)." in every
    assert '"post": "<the number of a post in your feed>"' in every
    assert "like: like a post in your feed (post)." in every

    posts = act_format(("post", "none")).instruction
    assert prompt_contract.listed(posts, action_space.ACTIONS_LABEL) == ["post", "none"]
    assert "message" not in posts and "befriend" not in posts and '"to"' not in posts
    assert posts.startswith(action_space.ACT_MARKER)
    # The prompt contract tells an act by the marker, whatever its space.
    messages = [{"role": "user", "content": f"Round 1. {posts}"}]
    assert prompt_contract.kind_of(messages) == "act"


def test_the_schema_is_strict_and_offers_the_space():
    schema = act_format(("post", "befriend", "none")).schema
    assert schema["properties"]["action"]["enum"] == ["post", "befriend", "none"]
    assert set(schema["required"]) == set(schema["properties"]) == {"action", "to", "text"}
    assert schema["additionalProperties"] is False
    assert set(act_format(("none",)).schema["properties"]) == {"action"}


def test_each_mode_puts_its_own_fields_in_the_request():
    space = ("post", "message", "none")
    fmt = act_format(space)
    schema_body = fmt.body("json_schema")
    assert schema_body["response_format"]["json_schema"] == {"name": "act", "strict": True, "schema": fmt.schema}
    tools_body = fmt.body("tools")
    assert [tool["function"]["name"] for tool in tools_body["tools"]] == list(space)
    assert tools_body["tool_choice"] == "required" and tools_body["parallel_tool_calls"] is False
    message = next(tool["function"] for tool in tools_body["tools"] if tool["function"]["name"] == "message")
    assert message["parameters"]["required"] == ["to", "text"] and message["strict"] is True
    assert fmt.body("none") == {}
    assert offered_by(schema_body) == offered_by(tools_body) == space
    assert offered_by({}) is None
    assert act_format(space) is fmt, "built once per space"


def test_the_readme_quotes_the_default_instruction_as_the_code_writes_it():
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert act_format().instruction in readme.replace("`", "")
    for spec in action_space.ACTIONS.values():
        assert f"| `{spec.name}` | {spec.line} |" in readme, spec.name


def test_the_actions_type_names_every_action():
    assert get_args(action_space.ActionName) == ALL
    assert set(action_space.ON_POSTS) == {name for name, spec in action_space.ACTIONS.items() if "post" in spec.fields}
