"""faust-streaming 0.15.3's per-message overhead, trimmed where it costs the most and changes nothing.

The consumer hands each fetched record to the agents with
``await self.wait_first(callback(message), self.suspend_flow.wait())``: four tasks (the callback,
the suspend flag, the service's stopped and crashed flags), an ``asyncio.wait`` and three
cancellations per record, a large share of a worker's CPU when the LLM is taken away
(BENCHMARKS.md). The callback almost always finishes at once: it
decodes the record and puts it into a queue with room. So the callback is first run inline; only
when it has to wait (a full queue) does it go on as a task under faust's own ``wait_first``,
which lets a rebalance interrupt it exactly as before.
"""

from __future__ import annotations

import inspect
from collections.abc import Coroutine, Generator
from typing import Any

from faust.transport import consumer as faust_consumer
from mode import Service
from mode.services import WaitResults


class _Resumed:
    """A coroutine already run up to its first suspension, awaitable from there (by a task)."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, Any], yielded: Any):
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation, passed on to the coroutine
                try:
                    value = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _wait_first(self: faust_consumer.Consumer, *coros: Any, timeout: Any = None) -> WaitResults:
    first = coros[0] if coros else None
    if timeout is None and inspect.iscoroutine(first) and not (self._stopped.is_set() or self._crashed.is_set()):
        try:
            yielded = first.send(None)
        except StopIteration as stop:
            _close(coros[1:])
            return WaitResults([first], [stop.value], False)
        except BaseException:
            _close(coros[1:])
            raise
        coros = (_Resumed(first, yielded), *coros[1:])
    return await Service.wait_first(self, *coros, timeout=timeout)


def _close(coros: tuple[Any, ...]) -> None:
    for coro in coros:
        if inspect.iscoroutine(coro):
            coro.close()


def install() -> None:
    """Idempotent; applies to every faust consumer in the process."""
    faust_consumer.Consumer.wait_first = _wait_first  # type: ignore[method-assign,assignment]
