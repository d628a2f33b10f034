"""Bounded ends: a process of ours that is asked to stop is gone within a grace period, whatever it waits on.

A graceful shutdown talks to the broker (commits, leaving the group). With the broker gone, as when
a parent that started both is killed, it can wait forever: the process would live on as an orphan.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable

# How long a graceful shutdown may take before the process ends itself.
SHUTDOWN_GRACE_S = 15.0

_armed = threading.Lock()


def exit_after(grace_s: float = SHUTDOWN_GRACE_S, code: int = 1, why: str = "shutdown") -> None:
    """End this process with ``code`` in ``grace_s`` seconds unless it has exited by then; once per process."""
    if not _armed.acquire(blocking=False):
        return

    def deadline() -> None:
        time.sleep(grace_s)
        # Straight to the file descriptor and out: no lock a stuck main thread may hold (logging, stdio).
        os.write(2, f"swarmstream: {why} did not finish within {grace_s:.0f} s: exiting now\n".encode())
        os._exit(code)

    threading.Thread(target=deadline, name="exit-deadline", daemon=True).start()


def stop_on_signals(stop: Callable[[signal.Signals], object], grace_s: float = SHUTDOWN_GRACE_S) -> None:
    """On SIGTERM or SIGINT, call ``stop(signal)`` in the running loop; the process ends ``grace_s`` later at most."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _stop_within_grace, signum, stop, grace_s)


def _stop_within_grace(signum: signal.Signals, stop: Callable[[signal.Signals], object], grace_s: float) -> None:
    exit_after(grace_s, code=128 + signum, why=f"stopping after {signum.name}")
    stop(signum)
