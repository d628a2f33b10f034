"""The demo command, as a user runs it, at a small size."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_pipeline(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "swarmstream", "demo", "--agents", "60", "--interactions", "200", "--quiet", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
        env={**__import__("os").environ, "SWARMSTREAM_DATA_DIR": str(tmp_path / "data")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["agents_registered"] == 60
    assert summary["interactions_answered"] == 200
    assert summary["dead_lettered"] == 0
    assert summary["interactions_per_s"] > 0
    assert 100 <= summary["llm_latency_ms_p50"] < 1000, "the simulator's 100 ms default latency"
    assert summary["peak_inflight_llm_calls"] >= 1
    assert 0 < summary["graph_edges"] <= 200 and summary["graph_nodes"] <= 60


def test_demo_rejects_bad_sizes(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "swarmstream", "demo", "--agents", "1"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--agents must be at least 2" in result.stderr
