"""Run the stream processors as a faust worker in this process."""

from __future__ import annotations

import logging

import faust

from streams.app import create_app
from swarmstream.runtime.loop import use_uvloop
from swarmstream.settings import Settings


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    """Block until the worker is stopped (SIGTERM / Ctrl-C)."""
    use_uvloop()
    stream_app = create_app(settings)
    worker = faust.Worker(stream_app.app, loglevel=loglevel, quiet=True)
    # faust's terminal spinner sets the root logger to DEBUG so that it turns on every record: each
    # debug call in faust and aiokafka then builds a record (3 % of the worker's CPU at 900 events/s).
    worker.spinner = None
    # httpx logs every request at INFO: at a thousand calls a second that is the log.
    for noisy in ("httpx", "httpx2", "openai"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger(noisy).level))
    worker.execute_from_commandline()
