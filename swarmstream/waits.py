"""Long waits that say what they wait for and what to check, and give up at their limit saying so.

A wait that sees no end after :data:`SAY_AFTER_S` asks its diagnosis (is a stream worker there at all?):
a cause found ends the wait at once with that cause; else it says what it still waits for, and does so
again every :data:`SAY_AFTER_S` until its limit, where it gives up with the same words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import KafkaError

from swarmstream.settings import Settings
from swarmstream.transport import describe_group

log = logging.getLogger(__name__)

T = TypeVar("T")
SAY_AFTER_S = 15.0
Diagnosis = Callable[[], Awaitable[str | None]]


class Stalled(TimeoutError):
    """A wait found why it cannot end, or reached its limit: the message says what it waited for and why."""


async def watched(
    work: Awaitable[T],
    what: str,
    limit_s: float,
    diagnose: Diagnosis | None = None,
    say: Callable[[str], None] = log.warning,
    every_s: float = SAY_AFTER_S,
    done_so_far: Callable[[], str] | None = None,
) -> T:
    """``work``'s result; past ``every_s`` (and every ``every_s`` after) ``diagnose`` is asked and ``say`` told.

    :param what: what is waited for, as "the stream workers to register 100 agents".
    :param limit_s: give up (``Stalled``) after this long.
    :param diagnose: a cause that stops the wait at once (a string), or None to go on waiting.
    :param done_so_far: how far the work has come, said with it ("41,000 registered").
    :raises Stalled: when ``diagnose`` finds a cause, or at ``limit_s``.
    """
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        while True:
            remaining = started + limit_s - loop.time()
            await asyncio.wait({task}, timeout=max(0.0, min(every_s, remaining)))
            if task.done():
                return task.result()
            cause = await diagnose() if diagnose is not None else None
            if cause is not None:
                raise Stalled(f"waiting for {what}: {cause}")
            waited = loop.time() - started
            if waited >= limit_s:
                raise Stalled(f"gave up waiting for {what} after {limit_s:.0f} s")
            so_far = f"{done_so_far()}, " if done_so_far is not None else ""
            say(f"still waiting for {what} ({so_far}{waited:.0f} s; giving up after {limit_s:.0f} s)")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def workers_missing(settings: Settings) -> str | None:
    """Why the stream workers cannot be doing what is waited for: none is in their group; else None."""
    try:
        group = await asyncio.wait_for(describe_group(settings, settings.app_id), 10)
    except (KafkaError, OSError, TimeoutError):
        return None  # the broker did not say: no verdict
    if group.members:
        return None
    return (
        f"no stream worker in group {settings.app_id!r} for topic prefix {settings.topic_prefix!r}: start one "
        f"(`swarmstream worker --topic-prefix {settings.topic_prefix}` with the same SWARMSTREAM_* settings, "
        f"bootstrap servers {settings.bootstrap_servers})"
    )


def workers_diagnosis(settings: Settings) -> Diagnosis:
    """:func:`workers_missing` for these settings, as a diagnosis to give :func:`watched`."""
    return lambda: workers_missing(settings)
