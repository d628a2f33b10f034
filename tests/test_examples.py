"""The source design's demos in examples/, each run at its stated size as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(name: str, tmp_path: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=420, cwd=tmp_path
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr[-3000:]}"
    print(done.stdout)
    return done.stdout


def figure(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no match for {pattern!r} in:\n{text}"
    return float(found.group(1).replace(",", ""))


def test_massive_agent_creation(tmp_path):
    out = run("01_massive_agent_creation.py", tmp_path)
    assert figure(r"created (\d+) agents in [\d.]+ s \(([\d,]+) agents/s\)", out) == 500


def test_social_network(tmp_path):
    out = run("02_social_network.py", tmp_path)
    friendships = figure(r"(\d+) friendships among 300 agents", out)
    assert friendships > 0
    assert figure(r"average friends per agent: ([\d.]+) \(at most 5\)", out) == pytest.approx(
        2 * friendships / 300, abs=0.01
    )
    assert 2 * friendships / 300 <= 5
    for name in ("gardeners", "coders", "travellers"):
        assert f"community {name}: 100 members" in out
    assert figure(r"success_rate\s+([\d.]+)", out) == 100.0


def test_realtime_interactions(tmp_path):
    out = run("03_realtime_interactions.py", tmp_path)
    assert re.findall(r"batch of (\d+) \(total (\d+)\)", out) == [("10", str(n)) for n in range(10, 51, 10)]
    assert figure(r"total_operations\s+([\d,]+)", out) == 50
    assert figure(r"success_rate\s+([\d.]+)", out) == 100.0
    assert figure(r"peak_concurrent\s+([\d,]+)", out) >= 1


def test_sync_vs_async(tmp_path):
    out = run("04_sync_vs_async.py", tmp_path)
    # Every simulated call takes 100 ms: one after another cannot take less than 10 s.
    assert figure(r"sequential: 100 calls in ([\d.]+) s", out) >= 10.0
    assert figure(r"pipeline:\s+(\d+) interactions", out) == 100
    assert figure(r"speed-up:\s+([\d.]+)x", out) > 0
