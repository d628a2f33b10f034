"""The standing stack's file: found while its supervisor runs, ignored once it is gone, its settings filled in."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from swarmstream.runtime import standing
from swarmstream.settings import Settings


def written(settings: Settings, pid: int) -> standing.Standing:
    up = standing.Standing(
        pid=pid, started_at=0.0, bootstrap_servers="127.0.0.1:19092", llm_base_url="http://127.0.0.1:18000/v1",
        topic_prefix="study", partitions=4, embedded_broker=True, simulator=True, logs="/tmp/logs",
        workers={"worker 0": pid},
    )  # fmt: skip
    standing.state_path(settings).parent.mkdir(parents=True, exist_ok=True)
    standing.state_path(settings).write_text(json.dumps(standing.asdict(up)))
    return up


def test_a_stack_is_found_while_its_supervisor_runs_and_fills_in_what_a_command_did_not_give(tmp_path, monkeypatch):
    monkeypatch.delenv("SWARMSTREAM_TOPIC_PREFIX", raising=False)
    monkeypatch.delenv("SWARMSTREAM_PARTITIONS", raising=False)
    settings = Settings(data_dir=str(tmp_path))
    up = written(settings, os.getpid())
    assert standing.find(settings) == up
    resolved = standing.settings_for(settings, up, given=set())
    assert (resolved.bootstrap_servers, resolved.llm_base_url) == (up.bootstrap_servers, up.llm_base_url)
    assert (resolved.topic_prefix, resolved.app_id, resolved.partitions) == ("study", "study", 4)
    own = standing.settings_for(Settings(data_dir=str(tmp_path), topic_prefix="other"), up, given={"topic_prefix"})
    assert (own.topic_prefix, own.app_id, own.partitions) == ("other", "other", 4)
    assert "embedded Tansu" in up.render() and "worker 0 (pid" in up.render()


def test_a_stack_whose_supervisor_is_gone_is_not_found_and_down_says_none_was_up(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    written(settings, gone.pid)
    assert standing.find(settings) is None
    assert standing.stop(settings) is None and not standing.state_path(settings).exists()


def test_a_file_that_is_not_a_stack_file_is_named(tmp_path):
    settings = Settings(data_dir=str(tmp_path))
    standing.state_path(settings).write_text("{}")
    with pytest.raises(RuntimeError, match="not a stack file swarmstream wrote"):
        standing.find(settings)
