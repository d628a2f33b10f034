"""Progress bars for long work (stderr, so stdout stays clean for data)."""

from __future__ import annotations

import sys
from typing import Protocol

from tqdm import tqdm


class Progress(Protocol):
    """What long work reports its steps to: a bar, or anything that counts them."""

    def update(self, n: float = 1) -> object: ...


class Tally:
    """Counts the steps reported to a bar, also when the bar is not shown (a disabled bar counts nothing)."""

    def __init__(self, bar: Progress):
        self.bar = bar
        self.count = 0

    def update(self, n: float = 1) -> None:
        self.count += int(n)
        self.bar.update(n)


def progress_bar(total: int | None, desc: str, enabled: bool = True, unit: str = "ev") -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled, file=sys.stderr, leave=True)


def say(line: str) -> None:
    """A line on stderr, above any progress bar (a stalled wait says what it waits for)."""
    tqdm.write(line, file=sys.stderr)
