"""The Batch API through the openai package against the simulator's: files up, a batch polled to its end, every
line read back as an online call's answer or failure."""

from __future__ import annotations

import asyncio

import openai
import pytest

from swarmstream.llm import batch as batch_api
from swarmstream.llm import simulator_batch
from swarmstream.llm.batch import BatchClient, chunks, prompt_hash, request_line
from swarmstream.llm.simulator import BatchConfig, LatencyModel, SimulatorConfig, answer, prompt_tokens_of
from swarmstream.llm.simulator_server import BATCHES, build_app
from swarmstream.settings import LLMEndpoint
from tests.swarmstream.llm.fakes import serve


def body(text: str) -> dict:
    return {"model": "m", "max_tokens": 30, "messages": [{"role": "system", "content": "You are Ada."},
                                                        {"role": "user", "content": text}]}  # fmt: skip


async def test_a_batch_answers_its_lines_as_online_calls_would_and_fails_some_as_told(tmp_path):
    config = SimulatorConfig(latency=LatencyModel(mean_ms=0), batch=BatchConfig(delay_s=0.2, line_error_rate=0.3))
    app = build_app(config)
    runner, url = await serve(app)
    server = app[BATCHES]
    client = BatchClient(LLMEndpoint(base_url=url, model="m"))
    lines = [request_line(f"r{i}", body(f"Question {i}?")) for i in range(40)]
    lines.append(request_line("bad", {"model": "m", "messages": []}))
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    try:
        batch_id = await client.submit(path, {"run_id": "x"})
        assert (await client.state(batch_id)).status in ("validating", "in_progress")
        while not (state := await client.state(batch_id)).done:
            await asyncio.sleep(0.1)
        results = {result.custom_id: result async for result in client.results(state)}
        held = {path.name: path.stat().st_size for path in server.folder.iterdir()}
        assert held == {f["id"]: f["bytes"] for f in server.files.values()}, "the files are on disk, as described"
        assert set(held) == {state.input_file_id, state.output_file_id, state.error_file_id}
        assert await client.delete_files(state) == 3 and await client.delete_files(state) == 0, "gone once"
        assert not server.files and not list(server.folder.iterdir())
    finally:
        await client.close()
        await runner.cleanup()
    assert not server.folder.exists(), "the simulator's files removed when it stops"
    assert state.status == "completed" and state.total == 41 and state.completed + state.failed == 41
    assert set(results) == {f"r{i}" for i in range(40)} | {"bad"}
    assert results["bad"].error == "http_400"
    failed = [r for r in results.values() if r.error == "server_error"]
    assert 4 <= len(failed) <= 20 and state.failed == len(failed) + 1, "about 30 % injected, seeded by custom_id"
    for i in range(40):
        result = results[f"r{i}"]
        if result.error is None:
            said = answer(body(f"Question {i}?")["messages"], 30)
            assert result.completion.content == said.content, "the same answer an online call gets"
            assert result.completion.prompt_tokens == prompt_tokens_of(body(f"Question {i}?"))


async def test_the_simulator_refuses_what_openai_refuses_and_keeps_no_refused_file(tmp_path, monkeypatch):
    app = build_app(SimulatorConfig(latency=LatencyModel(mean_ms=0)))
    runner, url = await serve(app)
    client = BatchClient(LLMEndpoint(base_url=url, model="m"))
    raw = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0)
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(request_line(f"r{i}", body("Hi?")) for i in range(5)) + b"\n")
    try:
        with pytest.raises(openai.BadRequestError, match="purpose must be 'batch'"):
            await raw.files.create(file=path, purpose="fine-tune")
        monkeypatch.setattr(simulator_batch, "MAX_LINES", 4)
        with pytest.raises(openai.BadRequestError, match="the file has 5 requests, above the limit of 4"):
            await client.submit(path, {})
        monkeypatch.setattr(simulator_batch, "MAX_FILE_BYTES", 100)
        with pytest.raises(openai.BadRequestError, match="above the limit of 100 bytes"):
            await client.submit(path, {})
        assert [f["purpose"] for f in app[BATCHES].files.values()] == ["batch"], "only the file over the lines"
        assert len(list(app[BATCHES].folder.iterdir())) == 1
    finally:
        await raw.close()
        await client.close()
        await runner.cleanup()


def test_a_wave_is_split_into_batches_that_fit_and_a_prompt_is_known_by_its_body_not_its_model(monkeypatch):
    monkeypatch.setattr(batch_api, "MAX_LINES", 3)
    assert [len(group) for group in chunks([b"x"] * 8)] == [3, 3, 2]
    monkeypatch.setattr(batch_api, "MAX_BYTES", 10)
    assert [len(group) for group in chunks([b"12345"] * 3)] == [1, 1, 1]
    assert prompt_hash(body("a")) == prompt_hash({**body("a"), "model": "other"}) != prompt_hash(body("b"))


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (
            b'{"custom_id": "a", "response": {"status_code": 429, "body": {"error": {"message": "slow"}}}}',
            "rate_limited",
        ),
        (
            b'{"custom_id": "a", "response": null, "error": {"code": "batch_expired", "message": "late"}}',
            "batch_expired",
        ),
        (b'{"custom_id": "a", "response": {"status_code": 200, "body": {"choices": []}}}', "bad_response"),
    ],
)
def test_a_failed_line_is_the_kind_of_failure_an_online_call_would_be(line, kind):
    assert batch_api.read_line(line).error == kind
