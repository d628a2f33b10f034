"""Secrets (API keys, passwords) never reach logs, metrics, dead letters or error messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from pydantic import SecretStr

from producers.personas import personas
from producers.requests import random_requests
from swarmstream.runtime.process import free_port
from swarmstream.settings import Settings
from tests.pipeline import RunningPipeline, read_records

SECRET = "sk-swarmstream-SECRET-7f3a9"
PASSWORD = "pg-PASSWORD-51c2"


def test_settings_show_no_secret_in_repr_or_validation_errors():
    settings = Settings(llm_api_key=SECRET, graph_dsn=f"postgresql://u:{PASSWORD}@h/db", sasl_password=PASSWORD)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text and PASSWORD not in text
    fallbacks = json.dumps([{"base_url": "http://x/v1", "model": "m", "api_key": SECRET, "rpm": -1}])
    done = subprocess.run(
        [sys.executable, "-m", "swarmstream", "topics"],
        env={**os.environ, "SWARMSTREAM_LLM_FALLBACKS": fallbacks},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "llm_fallbacks.0.rpm" in done.stderr
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.integration
async def test_a_run_with_faults_logs_no_secret(settings, start_simulator, tmp_path):
    port = free_port()
    settings = settings.model_copy(
        update={
            "llm_base_url": start_simulator("--latency-ms", "5", "--fault-5xx", "0.5"),
            "llm_api_key": SecretStr(SECRET),
            "llm_max_attempts": 2,
            "llm_backoff_base_s": 0.01,
            "graph_dsn": SecretStr(f"postgresql://u:{PASSWORD}@127.0.0.1:1/db"),  # in the worker's env, unused
            "worker_metrics_port": port,
        }
    )
    async with RunningPipeline(settings) as pipe:
        await pipe.publisher.publish(settings.agents_topic, personas(5, seed=5))
        await pipe.publisher.publish(settings.requests_topic, random_requests(40, agents=5, seed=5))
        await pipe.responses.wait_until(
            lambda got: len(got) + len(pipe.dead_letters.events) >= 40, 120, "40 answers or dead letters"
        )
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        run_dir = pipe.stack.work_dir
    assert pipe.dead_letters.events, "some requests failed twice: their dead letters are checked too"
    logs = "".join(path.read_text(errors="replace") for path in Path(run_dir).glob("*.log"))
    assert "INFO" in logs, "the worker logged at info level"
    letters = "".join(str(value) for *_, value in await read_records(settings, settings.deadletter_topic))
    for text, where in ((logs, "worker log"), (metrics, "/metrics"), (letters, "dead letters")):
        assert SECRET not in text, where
        assert PASSWORD not in text, where
