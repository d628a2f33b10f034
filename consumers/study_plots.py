"""Plots a researcher reads: survey answers by community (and, from a run's record, what the report draws).

Every figure keeps its legend beside the data, never over it, and a panel without data says why in one line
instead of standing empty.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """matplotlib's pyplot, drawing to files (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def empty(axes: Any, title: str, why: str) -> None:
    """A panel with nothing to draw: its title, and why in one line."""
    axes.set_title(title)
    axes.text(0.5, 0.5, why, ha="center", va="center", wrap=True, transform=axes.transAxes, fontsize="medium")
    axes.set_xticks([])
    axes.set_yticks([])


def colours(count: int) -> list[Any]:
    """One colour each for up to 20 series (tab20), cycling past that."""
    palette = pyplot().get_cmap("tab20").colors
    return [palette[index % len(palette)] for index in range(count)]


def answers_plot(
    distribution: Mapping[str, Counter[str]], options: Sequence[str], title: str, path: Path, axes: Any = None
) -> None:
    """A survey's answers by community: each community's bar split by option, as shares of its answers (its
    count of answers on the right). Drawn on ``axes`` if given, else in a figure of its own saved to ``path``."""
    plt = pyplot()
    own = axes is None
    if own:
        figure, axes = plt.subplots(figsize=(10, 1.2 + 0.45 * max(1, len(distribution))))
    if not distribution:
        empty(axes, title, "no answers (nobody was asked, or every answer failed)")
    else:
        communities = list(distribution)
        shown = [option for option in options if any(counts.get(option) for counts in distribution.values())]
        left = [0.0] * len(communities)
        totals = [sum(distribution[c].values()) for c in communities]
        for option, colour in zip(shown, colours(len(shown)), strict=True):
            shares = [distribution[c].get(option, 0) / total for c, total in zip(communities, totals, strict=True)]
            axes.barh(communities, shares, left=left, color=colour, label=option)
            left = [a + b for a, b in zip(left, shares, strict=True)]
        for row, total in enumerate(totals):
            axes.text(1.01, row, f"n={total:,}", va="center", fontsize="small", transform=axes.get_yaxis_transform())
        axes.set_xlim(0, 1)
        axes.invert_yaxis()
        axes.set(title=title, xlabel="share of the community's answers")
        axes.legend(loc="upper left", bbox_to_anchor=(1.08, 1), fontsize="small", title="answer")
    if own:
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)
