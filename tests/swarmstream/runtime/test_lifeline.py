"""A process asked to stop is gone within its grace period, even when its shutdown hangs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

HANGS_AFTER_SIGTERM = textwrap.dedent(
    """
    import asyncio, signal, sys
    from swarmstream.runtime.lifeline import stop_on_signals

    async def main():
        stop_on_signals(lambda signum: print("stopping", signum.name, flush=True), grace_s=1)
        print("ready", flush=True)
        await asyncio.Event().wait()  # a shutdown that never finishes, as one waiting on a dead broker

    asyncio.run(main())
    """
)


def test_a_hanging_shutdown_ends_after_the_grace_period_with_the_signals_code():
    child = subprocess.Popen([sys.executable, "-c", HANGS_AFTER_SIGTERM], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "ready\n"
    started = time.monotonic()
    child.terminate()
    assert child.wait(timeout=10) == 128 + 15
    assert 1 <= time.monotonic() - started < 5
    assert child.stdout.read() == "stopping SIGTERM\n"
