"""What each kind of process installs: aiokafka's correction everywhere, faust's only where faust runs."""

from __future__ import annotations

import subprocess
import sys

A_PLAIN_CONSUMER = """
import asyncio, sys
from aiokafka.consumer.group_coordinator import GroupCoordinator
from swarmstream.patches import aiokafka_leave_group
from swarmstream.settings import Settings
from swarmstream.transport import make_consumer

async def main():
    consumer = make_consumer(Settings(bootstrap_servers="127.0.0.1:1"), "t", group_id="g")
    await consumer.stop()

asyncio.run(main())
assert GroupCoordinator._maybe_leave_group is aiokafka_leave_group._maybe_leave_group, "not corrected"
print(sorted(name for name in ("faust", "mode") if name in sys.modules))
"""


def test_a_plain_consumer_process_gets_aiokafkas_correction_and_never_imports_faust():
    # A new interpreter: this test process has imported faust already.
    done = subprocess.run([sys.executable, "-c", A_PLAIN_CONSUMER], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
