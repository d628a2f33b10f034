"""Run the stream processors as a faust worker in this process."""

from __future__ import annotations

import faust

from streams.app import create_app
from swarmstream.settings import Settings


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    """Block until the worker is stopped (SIGTERM / Ctrl-C)."""
    stream_app = create_app(settings)
    worker = faust.Worker(stream_app.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
