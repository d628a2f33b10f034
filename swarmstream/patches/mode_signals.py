"""mode's worker stops on SIGTERM/SIGINT through private handlers: ours run first, then those.

faust's worker is mode's; its graceful stop commits and leaves the group, and with the broker gone (killed
with the parent that started both, say) it waits forever. The stream worker arms a deadline and lets
what is in flight end (``streams/worker.py``) before that stop begins, and needs mode's own stop after
it, which only mode's private ``_on_sigterm`` / ``_on_sigint`` start.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import mode


def before_stopping(
    worker: mode.Worker, first: Callable[[signal.Signals], None], then: Callable[[], Awaitable[None]]
) -> None:
    """Replace ``worker``'s SIGTERM and SIGINT handlers (after mode installed its own): ``first`` at once (a
    deadline), ``then`` awaited (a drain), then mode's stop. A second signal meanwhile changes nothing."""
    stops = {signal.SIGTERM: worker._on_sigterm, signal.SIGINT: worker._on_sigint}
    started: list[asyncio.Task[None]] = []

    def handle(signum: signal.Signals) -> None:
        first(signum)
        if not started:
            started.append(asyncio.ensure_future(_in_turn(then, stops[signum]), loop=worker.loop))

    for signum in stops:
        worker.loop.add_signal_handler(signum, handle, signum)


async def _in_turn(then: Callable[[], Awaitable[None]], stop: Callable[[], None]) -> None:
    try:
        await then()
    finally:
        stop()
