"""Progress bars for long work (stderr, so stdout stays clean for data)."""

from __future__ import annotations

import sys

from tqdm import tqdm

Progress = tqdm


def progress_bar(total: int | None, desc: str, enabled: bool = True, unit: str = "ev") -> tqdm:
    return tqdm(total=total, desc=desc, unit=unit, unit_scale=True, disable=not enabled, file=sys.stderr, leave=True)
