"""The embedded broker and child processes start, answer and leave nothing behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from swarmstream.runtime.broker import EmbeddedBroker
from swarmstream.runtime.process import wait_for_port

pytestmark = pytest.mark.integration


def test_broker_starts_and_stops(tmp_path):
    with EmbeddedBroker(log_path=tmp_path / "b.log") as broker:
        pid = broker.child.pid
        wait_for_port(broker.host, broker.port, 5)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_children_die_with_a_killed_parent(tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        from swarmstream.runtime.broker import EmbeddedBroker
        broker = EmbeddedBroker()
        broker.start()
        print(broker.child.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child_pid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ChildProcessError):  # reap it if it became our zombie
            os.waitpid(child_pid, os.WNOHANG)
        time.sleep(0.1)
    os.kill(child_pid, signal.SIGKILL)
    pytest.fail("the broker outlived its parent")
