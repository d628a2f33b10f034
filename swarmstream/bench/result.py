"""What a benchmark returns: its figures, for ``--json``, and the lines it prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BenchResult:
    """``figures`` hold every number the lines show, in base units (seconds, bytes, per second)."""

    bench: str
    figures: dict[str, Any]
    lines: list[str]

    def render(self) -> str:
        return "\n".join(self.lines)

    def to_json(self) -> str:
        return json.dumps({"bench": self.bench, **self.figures}, indent=2)
