"""Run the stream processors as a faust worker in this process."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import NoReturn

import faust
from aiokafka.errors import UnknownTopicOrPartitionError

from streams.app import BrokerDataLost, StreamApp, create_app
from swarmstream.patches import faust_access, mode_signals
from swarmstream.runtime.lifeline import exit_after
from swarmstream.runtime.loop import use_uvloop
from swarmstream.settings import Settings

# The worker's exit code when the broker has lost our records or topics (a fresh cluster).
EXIT_BROKER_DATA_LOST = 3


class BoundedWorker(faust.Worker):
    """A faust worker whose shutdown on SIGTERM or SIGINT lets what is in flight end, then leaves, in bounded time.

    The requests running get ``shutdown_grace_s`` to end (``StreamApp.drain``); faust then commits what is
    acked and leaves the group. A deadline is armed first: faust's stop talks to the broker, and with the
    broker gone (killed with the parent that started both, say) it would wait forever.
    """

    def __init__(self, stream_app: StreamApp, **kwargs: object):
        super().__init__(stream_app.app, **kwargs)  # type: ignore[arg-type]
        self.stream_app = stream_app

    def install_signal_handlers(self) -> None:
        super().install_signal_handlers()
        mode_signals.before_stopping(self, _arm_deadline, self.stream_app.drain)


def _arm_deadline(signum: signal.Signals) -> None:
    exit_after(code=128 + signum, why=f"the worker's shutdown after {signum.name}")


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    """Block until the worker is stopped (SIGTERM / Ctrl-C); it is gone within a grace period then."""
    use_uvloop()
    stream_app = create_app(settings)
    worker = BoundedWorker(stream_app, loglevel=loglevel, quiet=True)
    # faust's terminal spinner sets the root logger to DEBUG so that it turns on every record: each
    # debug call in faust and aiokafka then builds a record, a cost on every event.
    worker.spinner = None
    # httpx logs every request at INFO: at a thousand calls a second that is the log.
    for noisy in ("httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
    app = stream_app.app
    watchdog = threading.Thread(target=_exit_after_crash, args=(app,), name="crash-watchdog", daemon=True)
    watchdog.start()
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if app.crash_reason is not None:
            _stop(app.crash_reason)
        raise


# After a crash faust stops its services; with the broker gone some never finish, and the process
# would hang there instead of exiting. Past this grace the watchdog ends it.
CRASH_GRACE_S = 15.0


def _exit_after_crash(app: faust.App) -> None:
    while not faust_access.has_crashed(app):
        time.sleep(0.5)
    time.sleep(CRASH_GRACE_S)
    _stop(app.crash_reason)


def _topics_gone(reason: BaseException | None) -> bool:
    """The crash says the broker has lost our records or topics, whichever component noticed first.

    aiokafka asserts on a send to a partition its fresh metadata lacks; that often beats our own
    offset check (``BrokerDataLost``) when an empty cluster appears at the same address.
    """
    if isinstance(reason, BrokerDataLost | UnknownTopicOrPartitionError):
        return True
    return isinstance(reason, AssertionError) and "Unrecognized partition" in str(reason)


def _stop(reason: BaseException | None) -> NoReturn:
    """The last line, after faust's shutdown noise: what happened; then the exit code that says it."""
    if _topics_gone(reason) and not isinstance(reason, BrokerDataLost):
        reason = BrokerDataLost(f"the broker lost its data: its topics no longer have our partitions ({reason!r})")
    # Straight to the file descriptor, taking no lock: the watchdog thread must never wait on one that
    # a stuck main thread holds (logging.shutdown() here once kept both workers of a CI run alive).
    os.write(2, f"swarmstream worker stopped: {reason!r}\n".encode(errors="replace"))
    os._exit(EXIT_BROKER_DATA_LOST if isinstance(reason, BrokerDataLost) else 1)
