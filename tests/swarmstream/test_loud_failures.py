"""Failures say what failed and exit non-zero; waits say what they wait for; prefixes share nothing."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import pytest
from aiohttp import web

from producers.personas import persona_batches
from swarmstream.events import InteractionResponded
from swarmstream.publisher import EventPublisher
from swarmstream.registration import wait_for_registration
from swarmstream.runtime.stack import LocalStack
from swarmstream.settings import Settings
from swarmstream.transport import ensure_topics
from tests.swarmstream.llm.fakes import answering, serve

pytestmark = pytest.mark.integration


async def swarmstream(*args: str, env: dict[str, str], timeout: float = 120) -> tuple[int, str, str, float]:
    """The command in a process of its own: exit code, stdout, stderr, seconds."""
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "swarmstream", *args, env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode(), time.monotonic() - started


@pytest.fixture
async def refusing_endpoint():
    """An OpenAI-compatible endpoint that refuses every key (401), as a provider does."""

    async def refuse(request: web.Request) -> web.Response:
        error = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
        return web.json_response(error, status=401)

    runner, url = await serve(answering(refuse))
    yield url
    await runner.cleanup()


@pytest.mark.parametrize("command", [["simulate", "--agents", "100", "--rounds", "2"], ["demo", "--agents", "100"]])
async def test_an_unreachable_or_refusing_endpoint_is_one_line_and_a_non_zero_exit(
    command, refusing_endpoint, tmp_path
):
    env = {"SWARMSTREAM_DATA_DIR": str(tmp_path)}
    for url, cause in (("http://127.0.0.1:9/v1", "cannot connect (connection refused)"),
                       (refusing_endpoint, "the API key was refused (401)")):  # fmt: skip
        code, _, err, seconds = await swarmstream(*command, "--llm-base-url", url, "--quiet", env=env)
        assert code == 1 and seconds < 10, (code, seconds, err[-2000:])
        (line,) = err.strip().splitlines()
        assert line.startswith(f"swarmstream: LLM endpoint {url} (model gpt-3.5-turbo): {cause}"), line
        assert "Traceback" not in err


async def test_simulate_with_no_worker_says_so_and_a_second_prefix_shares_nothing_with_the_first(
    broker, start_simulator, tmp_path
):
    llm = start_simulator("--latency-ms", "5")
    common = {"bootstrap_servers": broker.bootstrap_servers, "partitions": 4, "llm_base_url": llm}
    first = Settings(topic_prefix=f"first{tmp_path.name[-6:]}", data_dir=str(tmp_path / "a"), **common)
    await ensure_topics(first)
    with LocalStack(first) as stack:  # the first society, with its worker
        stack.start_worker()
        async with EventPublisher(first) as publisher:
            await publisher.publish(first.agents_topic, persona_batches(40, 3, first.partitions, 20))
        await wait_for_registration(first, {f"agent-{i:07d}" for i in range(40)}, 120)

        second = Settings(topic_prefix=f"second{tmp_path.name[-6:]}", data_dir=str(tmp_path / "b"), **common)
        env = {f"SWARMSTREAM_{k.upper()}": str(v) for k, v in common.items()} | {
            "SWARMSTREAM_TOPIC_PREFIX": second.topic_prefix, "SWARMSTREAM_DATA_DIR": second.data_dir,
        }  # fmt: skip
        code, _, err, seconds = await swarmstream("simulate", "--agents", "40", "--rounds", "1", "--quiet", env=env)
    assert code == 1 and seconds < 30, (code, seconds, err[-2000:])
    assert f"no stream worker in group {second.topic_prefix!r} for topic prefix {second.topic_prefix!r}" in err
    assert f"swarmstream worker --topic-prefix {second.topic_prefix}" in err
    assert "Traceback" not in err and first.app_id != second.app_id
    assert first.profiles_changelog_topic != second.profiles_changelog_topic


async def test_consume_interactions_exits_at_its_limit_or_once_idle(settings, tmp_path):
    await ensure_topics(settings)
    answers = [
        InteractionResponded(agent_id=f"a{i}", content=f"reply {i}", model="m", prompt_tokens=1, completion_tokens=1,
                             llm_latency_ms=1.0, llm_inflight=1, request_created_at=0.0)
        for i in range(3)
    ]  # fmt: skip
    async with EventPublisher(settings) as publisher:
        await publisher.publish(settings.responses_topic, answers)
    env = {f"SWARMSTREAM_{k.upper()}": str(getattr(settings, k)) for k in ("bootstrap_servers", "topic_prefix",
                                                                          "partitions")}  # fmt: skip
    follow = ("consume", "interactions", "--from-beginning")
    code, out, _, _ = await swarmstream(*follow, "--limit", "2", env=env, timeout=60)
    assert code == 0 and len(out.splitlines()) == 2
    code, out, _, seconds = await swarmstream(*follow, "--until-idle", "3", env=env, timeout=60)
    assert code == 0 and sorted(json.loads(line)["content"] for line in out.splitlines()) == [
        f"reply {i}" for i in range(3)
    ]
    assert seconds < 30
