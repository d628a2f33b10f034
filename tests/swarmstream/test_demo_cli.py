"""The demo command, as a user runs it, at a small size."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from swarmstream import cli
from swarmstream.runtime.lifeline import SHUTDOWN_GRACE_S

pytestmark = pytest.mark.integration


def test_demo_runs_the_whole_pipeline(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "swarmstream", "demo", "--agents", "60", "--interactions", "200", "--quiet", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "SWARMSTREAM_DATA_DIR": str(tmp_path / "data")},
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
    peaks = summary["peak_rss_bytes"]
    assert set(peaks) == {"worker 0", "simulator", "broker", "this process"}
    assert all(2**20 < size < 2**32 for size in peaks.values()), peaks
    # Scraped from the worker: its 20 ms timer came late at least once (a block of 0 is a watch not running).
    assert set(summary["loop_block_max_s"]) == set(summary["gc_pause_max_s"]) == {"worker 0"}
    assert 0 < summary["loop_block_max_s"]["worker 0"] < 60
    assert 0 <= summary["gc_pause_max_s"]["worker 0"] < 60


def test_demo_rejects_bad_sizes(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "swarmstream", "demo", "--agents", "1"], cwd=tmp_path, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "--agents must be at least 2" in result.stderr


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now, from /proc."""
    children: dict[int, set[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                parent = int(stat.rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, set()).add(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            found.add(child)
            todo.append(child)
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever reaps it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def start_demo(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    """A demo large enough to be stopped while it answers; returns it and its stderr (progress bars)."""
    stderr = tmp_path / "stderr.txt"
    demo = subprocess.Popen(
        [sys.executable, "-m", "swarmstream", "demo", "--agents", "500", "--interactions", "200000", *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=stderr.open("wb"),
        text=True,
        start_new_session=True,  # its own process group, as `timeout` puts what it runs
        env={**os.environ, "SWARMSTREAM_DATA_DIR": str(tmp_path / "data")},
    )
    deadline = time.monotonic() + 150
    while "answer interactions" not in stderr.read_text(errors="replace"):
        assert demo.poll() is None, stderr.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "the demo never started answering"
        time.sleep(0.5)
    time.sleep(3)
    return demo, stderr


def wait_gone(pids: set[int], timeout_s: float) -> float:
    started = time.monotonic()
    while any(running(pid) for pid in pids):
        if time.monotonic() - started > timeout_s:
            left = {pid for pid in pids if running(pid)}
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"processes {sorted(left)} still running {timeout_s:.0f} s after their parent stopped")
        time.sleep(0.2)
    return time.monotonic() - started


def test_a_demo_stopped_by_sigterm_prints_a_partial_summary_and_leaves_nothing(tmp_path):
    demo, stderr = start_demo(tmp_path, "--json")
    children = descendants(demo.pid)
    assert len(children) >= 3, "broker, simulator, worker"
    # As `timeout` does: SIGTERM to the whole group, the broker and the worker with it.
    os.killpg(demo.pid, signal.SIGTERM)
    out, _ = demo.communicate(timeout=90)
    assert demo.returncode == 128 + signal.SIGTERM, stderr.read_text(errors="replace")[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["partial"] is True and summary["interrupted_by"] == "SIGTERM"
    assert summary["stage"] == "answering interactions"
    assert summary["agents_registered"] == 500 and summary["interactions_requested"] == 200_000
    assert 0 < summary["interactions_answered"] < 200_000
    wait_gone(children, 30)


def test_a_killed_demo_leaves_no_process_behind(tmp_path):
    demo, _ = start_demo(tmp_path)
    children = descendants(demo.pid)
    assert len(children) >= 3, "broker, simulator, worker"
    demo.kill()  # no chance to clean up: the children see their parent go, and the broker with it
    demo.wait()
    # The worker's shutdown waits on the dead broker until its deadline (lifeline.SHUTDOWN_GRACE_S).
    assert wait_gone(children, SHUTDOWN_GRACE_S + 20) < SHUTDOWN_GRACE_S + 20


def test_version_names_the_tested_versions_and_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    out = capsys.readouterr().out
    assert out.startswith("swarmstream ") and "faust-streaming 0.15.3" in out
    with pytest.raises(SystemExit):
        cli.main(["demo", "--help"])
    assert "agents to create (default: 1000)" in capsys.readouterr().out
