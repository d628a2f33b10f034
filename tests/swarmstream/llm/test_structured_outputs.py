"""Acts against the simulator over HTTP in each structured-output mode, read by the worker's parser."""

from __future__ import annotations

from collections import Counter

import httpx2
import pytest
from aiohttp import web

from streams.actions import parse_action
from streams.prompts import build_messages, feed_view
from streams.recommenders import Candidate
from swarmstream.action_space import ALL, StructuredOutputs, act_format
from swarmstream.llm.client import LLMClient, decode_completion
from swarmstream.llm.probe import EndpointUnavailable, probe_endpoints
from swarmstream.llm.simulator import LatencyModel, SimulatorConfig
from swarmstream.settings import LLMEndpoint, Settings
from swarmstream.society.acts import act_request
from swarmstream.society.config import new_config
from tests.swarmstream.llm.fakes import answering, serve
from tests.swarmstream.llm.test_simulator import serve_simulator

ACTS = 200
POOL = [f"agent-{i}" for i in range(100)]


def profile(n: int) -> dict:
    return {
        "name": f"Agent {n}", "persona": "Likes rivers.", "traits": ["kind"], "interests": ["music"],
        "community": "cooks", "friends": [f"agent-90{n}", f"agent-91{n}"], "memory": [],
        "inbox": [["m1", "agent-7", "How are you?", "said", 0.0]], "follows": [f"agent-8{n}"],
    }  # fmt: skip


def feed(n: int) -> list[Candidate]:
    """Three posts a feed ranked for agent ``n``: one liked, one reposted."""
    return [
        Candidate(f"p{n}-1", "agent-21", "Rivers at dawn.", "post", 1, 0.0, (4, 0, 0, 0, 0)),
        Candidate(f"p{n}-2", "agent-22", "A new recipe.", "repost", 1, 0.0, (1, 0, 2, 0, 0)),
        Candidate(f"p{n}-3", "agent-23", "Quiet morning.", "post", 1, 0.0),
    ]


def acts(actions: tuple[str, ...] = ()) -> list[tuple[str, tuple[str, ...], list[str], list[dict]]]:
    """``ACTS`` acts of a run offering ``actions``: (speaker, offered, its feed's post ids, messages), as the
    worker builds them."""
    config = new_config(agents=None, rounds=1, active=0.5, turns=2, seed=11, actions=actions)
    built = []
    for n in range(ACTS):
        request = act_request(config, 2, f"agent-{n}", POOL)
        view = feed_view(profile(n), [], feed(n))
        built.append((request.agent_id, request.actions, view.post_ids, build_messages(profile(n), request, view)))
    return built


@pytest.fixture
async def simulator_url():
    runner, url = await serve_simulator(SimulatorConfig(latency=LatencyModel(kind="fixed", mean_ms=0)))
    yield url
    await runner.cleanup()


async def answered(url: str, mode: StructuredOutputs, actions: tuple[str, ...] = ()) -> Counter[str]:
    """Each act called through the client in ``mode`` and parsed: counts by action, malformed apart."""
    endpoint = LLMEndpoint(base_url=url, model="gpt-3.5-turbo", structured_outputs=mode)
    client = LLMClient(endpoint, timeout_s=5, max_connections=4)
    counts: Counter[str] = Counter()
    try:
        for speaker, offered, posts, messages in acts(actions):
            raw = await client.call(messages, 150, act_format(offered))
            action = parse_action(raw.content, speaker, 200, offered, posts)
            counts["malformed" if action.malformed else action.kind] += 1
    finally:
        await client.close()
    return counts


@pytest.mark.parametrize("mode", ["json_schema", "tools"])
async def test_an_enforced_mode_never_answers_a_malformed_act(simulator_url, mode):
    counts = await answered(simulator_url, mode)
    assert counts["malformed"] == 0, counts
    assert set(counts) == set(ALL), f"every action chosen: {counts}"
    assert counts["post"] > counts["repost"] > counts["unfollow"] > 0


async def test_without_structured_outputs_some_acts_are_prose_and_the_rest_are_read_tolerantly(simulator_url):
    counts = await answered(simulator_url, "none")
    assert 0 < counts["malformed"] < ACTS * 0.15, counts
    assert len(counts) > 8 and counts["malformed"] < counts["post"], counts


@pytest.mark.parametrize("mode", ["json_schema", "tools", "none"])
async def test_a_restricted_space_restricts_the_answers(simulator_url, mode):
    counts = await answered(simulator_url, mode, ("post", "befriend"))
    assert set(counts) - {"malformed"} == {"post", "befriend", "none"}, counts
    if mode != "none":
        assert counts["malformed"] == 0


async def test_the_simulator_answers_tools_as_a_tool_call_and_refuses_bad_shapes_as_openai_does(simulator_url):
    _, offered, _, messages = acts(("post",))[0]
    async with httpx2.AsyncClient(base_url=simulator_url, timeout=5) as http:
        body = {"model": "m", "messages": messages, "max_tokens": 100, **act_format(offered).body("tools")}
        reply = (await http.post("/chat/completions", json=body)).json()
        choice = reply["choices"][0]
        assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
        call = choice["message"]["tool_calls"][0]
        assert call["type"] == "function" and call["function"]["name"] in offered
        # A strict schema must require every property; tools need names; tool_choice needs tools.
        schema = {
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "required": [],
            "additionalProperties": False,
        }
        bad = [
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "strict": True, "schema": schema},
                }
            },
            {"response_format": {"type": "yaml"}},
            {"tools": [{"type": "function", "function": {"name": "has space"}}]},
            {"tool_choice": "required"},
        ]
        for fields in bad:
            refused = await http.post("/chat/completions", json={"model": "m", "messages": messages, **fields})
            assert refused.status_code == 400, fields
            assert refused.json()["error"]["type"] == "invalid_request_error"


def test_a_tool_call_a_refusal_and_broken_arguments_become_text_the_parser_reads():
    def message(**fields) -> bytes:
        return httpx2.Response(200, json={"choices": [{"message": {"role": "assistant", **fields}}]}).content

    call = {"id": "c1", "type": "function", "function": {"name": "message", "arguments": '{"to": "b", "text": "Hi."}'}}
    content = decode_completion(message(content=None, tool_calls=[call]), httpx2.Headers()).content
    assert parse_action(content, "a", 100).kind == "message"
    assert parse_action(content, "a", 100).to == "b"
    refusal = decode_completion(message(content=None, refusal="I cannot help."), httpx2.Headers()).content
    assert refusal == "I cannot help." and parse_action(refusal, "a", 100).malformed
    broken = {**call, "function": {"name": "post", "arguments": "{not json"}}
    content = decode_completion(message(content=None, tool_calls=[broken]), httpx2.Headers()).content
    assert parse_action(content, "a", 100).malformed
    # An action the run did not offer is malformed whatever the model says.
    assert parse_action('{"action": "befriend", "to": "b"}', "a", 100, ("post", "none")).malformed


@pytest.fixture
async def schema_refusing_endpoint():
    """An endpoint that answers plain chats and refuses ``response_format`` and ``tools`` (an older server)."""

    async def complete(request: web.Request) -> web.Response:
        body = await request.json()
        if "response_format" in body or "tools" in body:
            error = {"error": {"message": "Unrecognized request argument supplied: response_format", "type": "x"}}
            return web.json_response(error, status=400)
        choice = {"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "stop"}
        return web.json_response({"model": body["model"], "choices": [choice], "usage": {}})

    runner, url = await serve(answering(complete))
    yield url
    await runner.cleanup()


async def test_the_probe_says_when_an_endpoint_refuses_its_structured_outputs(simulator_url, schema_refusing_endpoint):
    for mode in ("json_schema", "tools"):
        await probe_endpoints(Settings(llm_base_url=simulator_url, llm_structured_outputs=mode))
        with pytest.raises(EndpointUnavailable, match=f"refused structured outputs in mode '{mode}' \\(400\\)"):
            await probe_endpoints(Settings(llm_base_url=schema_refusing_endpoint, llm_structured_outputs=mode))
    await probe_endpoints(Settings(llm_base_url=schema_refusing_endpoint, llm_structured_outputs="none"))
    # A fallback without a mode of its own takes the setting's; one with its own keeps it.
    settings = Settings(
        llm_base_url=simulator_url,
        llm_structured_outputs="tools",
        llm_fallbacks=[
            LLMEndpoint(base_url=schema_refusing_endpoint, model="m"),
            LLMEndpoint(base_url=schema_refusing_endpoint, model="m", structured_outputs="none"),
        ],
    )
    assert [endpoint.structured_outputs for endpoint in settings.all_llm_endpoints()] == ["tools", "tools", "none"]
    with pytest.raises(EndpointUnavailable) as refused:
        await probe_endpoints(settings)
    assert len(str(refused.value).splitlines()) == 1
