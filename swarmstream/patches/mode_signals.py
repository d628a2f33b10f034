"""mode's worker stops on SIGTERM/SIGINT through private handlers: ours run a callback first, then those.

faust's worker is mode's; its graceful stop commits and leaves the group, and with the broker gone (killed
with the parent that started both, say) it waits forever. The stream worker arms a deadline before that
stop begins (``streams/worker.py``), and needs mode's own stop after it, which only mode's private
``_on_sigterm`` / ``_on_sigint`` start.
"""

from __future__ import annotations

import signal
from collections.abc import Callable

import mode


def before_stopping(worker: mode.Worker, first: Callable[[signal.Signals], None]) -> None:
    """Replace ``worker``'s SIGTERM and SIGINT handlers (after mode installed its own) with ``first`` then mode's."""
    stops = {signal.SIGTERM: worker._on_sigterm, signal.SIGINT: worker._on_sigint}
    for signum, stop in stops.items():
        worker.loop.add_signal_handler(signum, _in_turn, first, signum, stop)


def _in_turn(first: Callable[[signal.Signals], None], signum: signal.Signals, stop: Callable[[], None]) -> None:
    first(signum)
    stop()
