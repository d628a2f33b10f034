"""The worker's bounded shutdown hooks into mode's signal handling: the names it calls must exist."""

from __future__ import annotations

import faust
import mode

from streams.worker import BoundedWorker


def test_the_bounded_worker_calls_handlers_mode_still_has():
    # BoundedWorker arms its deadline, then stops as mode does (mode-streaming 0.7.1): if mode renames
    # these, a SIGTERM would fail in the handler instead of stopping the worker.
    for name in ("_on_sigterm", "_on_sigint", "install_signal_handlers"):
        assert callable(getattr(mode.Worker, name)), name
    assert issubclass(BoundedWorker, faust.Worker)
