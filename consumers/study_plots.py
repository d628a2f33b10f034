"""Plots a researcher reads: survey answers by community (and, from a run's record, what the report draws).

Every figure keeps its legend beside the data, never over it, and a panel without data says why in one line
instead of standing empty.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from consumers.study import StudyFigures, option_order
from swarmstream.events import ACTIONS


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
    count of answers in its label). Drawn on ``axes`` if given, else in a figure of its own saved to ``path``."""
    plt = pyplot()
    own = axes is None
    if own:
        figure, axes = plt.subplots(figsize=(10, 1.2 + 0.45 * max(1, len(distribution))))
    if not distribution:
        empty(axes, title, "no answers (nobody was asked, or every answer failed)")
    else:
        communities = sorted(distribution)
        shown = [option for option in options if any(counts.get(option) for counts in distribution.values())]
        left = [0.0] * len(communities)
        totals = [sum(distribution[c].values()) for c in communities]
        # Each community's count in its label: nothing drawn beside the bars but the legend.
        rows = [f"{c} (n={total:,})" for c, total in zip(communities, totals, strict=True)]
        for option, colour in zip(shown, colours(len(shown)), strict=True):
            shares = [distribution[c].get(option, 0) / total for c, total in zip(communities, totals, strict=True)]
            axes.barh(rows, shares, left=left, color=colour, label=option)
            left = [a + b for a, b in zip(left, shares, strict=True)]
        axes.set_xlim(0, 1)
        axes.invert_yaxis()
        axes.set(title=title, xlabel="share of the community's answers")
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", title="answer")
    if own:
        figure.tight_layout()
        figure.savefig(path, dpi=100)
        plt.close(figure)


def write_study_plots(run: StudyFigures, out: Path) -> list[Path]:
    """The plots of one run a researcher reads, in ``out``: actions, exposure to broadcasts, surveys, network
    growth, cascades and engagement. Returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    drawn = []
    for name, draw in (("actions", _actions), ("exposure", _exposure), ("surveys", _surveys),
                       ("network", _network), ("cascades", _cascades)):  # fmt: skip
        path = out / f"{name}.png"
        draw(run, path)
        drawn.append(path)
    return drawn


def _save(figure: Any, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot().close(figure)


def _beside(axes: Any, title: str | None = None) -> None:
    """The legend beside the panel, never over its data."""
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", title=title)


def _actions(run: StudyFigures, path: Path) -> None:
    plt = pyplot()
    figure, (by_action, by_community) = plt.subplots(1, 2, figsize=(15, 4.5))
    rounds = run.rounds
    if not rounds:
        empty(by_action, "Actions per round", "no round was played")
        empty(by_community, "Acts per round by community", "no round was played")
        return _save(figure, path)
    taken = [action for action in ACTIONS if any(run.actions.get(r, Counter())[action] for r in rounds)]
    bottom = [0] * len(rounds)
    palette = colours(len(ACTIONS))
    for action in taken:
        counts = [run.actions.get(r, Counter())[action] for r in rounds]
        by_action.bar([str(r) for r in rounds], counts, bottom=bottom, label=action,
                      color=palette[ACTIONS.index(action)])  # fmt: skip
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    by_action.set(title="Actions per round", xlabel="round", ylabel="acts")
    _beside(by_action, "action")
    communities = run.communities
    for community, colour in zip(communities, colours(len(communities)), strict=True):
        counts = run.acts_by_community[community]
        by_community.plot(rounds, [counts[r] for r in rounds], marker="o", label=community, color=colour)
    by_community.set(title="Acts per round by community", xlabel="round", ylabel="acts")
    by_community.set_xticks(rounds)
    _beside(by_community, "community")
    _save(figure, path)


def _exposure(run: StudyFigures, path: Path) -> None:
    plt = pyplot()
    shown = [b for b in run.exposure if b in run.broadcasts] + [b for b in run.exposure if b not in run.broadcasts]
    figure, panels = plt.subplots(max(1, len(shown)), 1, figsize=(11, 3.2 * max(1, len(shown))), squeeze=False)
    if not shown:
        empty(panels[0][0], "Exposure to broadcasts", "no acting agent was shown a broadcast in this run")
        return _save(figure, path)
    for axes, broadcast in zip((row[0] for row in panels), shown, strict=True):
        text, audience = run.broadcasts.get(broadcast, (broadcast, None))
        by_round = run.exposure[broadcast]
        communities = sorted({c for counts in by_round.values() for c in counts})
        rounds = run.rounds
        width = 0.8 / max(1, len(communities))
        for index, (community, colour) in enumerate(zip(communities, colours(len(communities)), strict=True)):
            axes.bar(
                [r + (index - (len(communities) - 1) / 2) * width for r in rounds],
                [by_round.get(r, Counter())[community] for r in rounds],
                width,
                label=community,
                color=colour,
            )
        said = text if len(text) <= 70 else text[:67] + "..."
        axes.set(title=f'"{said}" (to {audience or "everyone"})', xlabel="round", ylabel="agents shown it")
        axes.set_xticks(rounds)
        _beside(axes, "community")
    _save(figure, path)


def _surveys(run: StudyFigures, path: Path) -> None:
    plt = pyplot()
    surveys = run.surveys
    heights = [1.2 + 0.45 * max(1, len(s.by_community)) for s in surveys] or [2.0]
    figure, panels = plt.subplots(len(heights), 1, figsize=(11, sum(heights)), squeeze=False,
                                  gridspec_kw={"height_ratios": heights})  # fmt: skip
    if not surveys:
        empty(panels[0][0], "Surveys", "no survey in this run (a plan's survey step, or swarmstream survey --run)")
        return _save(figure, path)
    for axes, survey in zip((row[0] for row in panels), surveys, strict=True):
        options = sorted(survey.overall, key=option_order)
        mean = f", mean {survey.mean:.2f}" if survey.mean is not None else ""
        answers_plot(survey.by_community, options, f"{survey.question} [{survey.label}{mean}]", path, axes)
    _save(figure, path)


def _network(run: StudyFigures, path: Path) -> None:
    plt = pyplot()
    figure, (friends, follows) = plt.subplots(1, 2, figsize=(13, 4))
    rounds = [0, *run.rounds]
    if not (run.friendships or run.follows):
        empty(friends, "Friendships", "no friendship and no follow in this run's graph")
        empty(follows, "Follows", "no friendship and no follow in this run's graph")
        return _save(figure, path)
    total = 0
    standing = []
    for r in rounds:
        total += run.friendships[r]
        standing.append(total)
    friends.bar([str(r) for r in rounds], [run.friendships[r] for r in rounds], label="formed in the round")
    friends.plot([str(r) for r in rounds], standing, marker="o", color="black", label="standing")
    friends.set(title="Friendships (round 0: before the run)", xlabel="round", ylabel="pairs")
    _beside(friends)
    added, undone, held = [run.follows[r] for r in rounds], [run.unfollows[r] for r in rounds], []
    total = 0
    for a, u in zip(added, undone, strict=True):
        total += a - u
        held.append(total)
    follows.bar([str(r) for r in rounds], added, label="followed")
    follows.bar([str(r) for r in rounds], [-u for u in undone], label="unfollowed")
    follows.plot([str(r) for r in rounds], held, marker="o", color="black", label="standing")
    follows.axhline(0, color="grey", linewidth=0.5)
    follows.set(title="Follows (round 0: before the run)", xlabel="round", ylabel="follows")
    _beside(follows)
    _save(figure, path)


def _cascades(run: StudyFigures, path: Path) -> None:
    plt = pyplot()
    figure, (sizes, likes) = plt.subplots(1, 2, figsize=(13, 4))
    if run.cascade_sizes:
        counted = Counter(run.cascade_sizes)
        sizes.scatter(list(counted), list(counted.values()))
        deepest = max(run.cascade_depths, default=0)
        title = f"Cascade sizes ({len(run.cascade_sizes):,} cascades, deepest {deepest})"
        sizes.set(xscale="log", yscale="log", title=title, xlabel="posts answering into it", ylabel="cascades")
    else:
        empty(sizes, "Cascade sizes", "no repost, quote or comment: no cascade")
    if any(run.likes_per_post):
        counted = Counter(run.likes_per_post)
        likes.scatter([k for k in counted if k > 0], [counted[k] for k in counted if k > 0])
        title = f"Engagement: likes per post ({counted[0]:,} of {len(run.likes_per_post):,} posts without)"
        likes.set(xscale="log", yscale="log", xlabel="likes", ylabel="posts", title=title)
    else:
        empty(likes, "Engagement: likes per post", "no post was liked in this run")
    _save(figure, path)


def compare_plot(a: StudyFigures, b: StudyFigures, path: Path) -> None:
    """Two arms side by side: acts per round, agents shown a broadcast per round, each survey's answers, cascades."""
    plt = pyplot()
    shared = [s for s in a.surveys if any(o.survey_id == s.survey_id for o in b.surveys)]
    rows = 2 + len(shared)
    figure, panels = plt.subplots(rows, 2, figsize=(14, 3.6 * rows), squeeze=False)
    rounds = sorted(set(a.rounds) | set(b.rounds))
    labels = [str(r) for r in rounds]
    for axes, run, name in ((panels[0][0], a, "A"), (panels[0][1], b, "B")):
        bottom = [0] * len(rounds)
        palette = colours(len(ACTIONS))
        for action in ACTIONS:
            counts = [run.actions.get(r, Counter())[action] for r in rounds]
            if any(counts):
                axes.bar(labels, counts, bottom=bottom, label=action, color=palette[ACTIONS.index(action)])
                bottom = [x + y for x, y in zip(bottom, counts, strict=True)]
        axes.set(title=f"{name}: run {run.run_id}, actions per round", xlabel="round", ylabel="acts")
        _beside(axes, "action")
    exposure, cascades = panels[1]
    width = 0.4
    for offset, run, name in ((-width / 2, a, "A"), (width / 2, b, "B")):
        totals = [sum(_shown(run, r).values()) for r in rounds]
        exposure.bar([i + offset for i in range(len(rounds))], totals, width, label=f"{name}: {run.run_id}")
    exposure.set_xticks(range(len(rounds)), labels)
    exposure.set(title="Agents shown a broadcast, per round", xlabel="round", ylabel="agents")
    _beside(exposure)
    if a.cascade_sizes or b.cascade_sizes:
        for run, name in ((a, "A"), (b, "B")):
            counted = Counter(run.cascade_sizes)
            cascades.scatter(list(counted), list(counted.values()), label=f"{name}: {run.run_id}", alpha=0.7)
        cascades.set(xscale="log", yscale="log", title="Cascade sizes", xlabel="posts in it", ylabel="cascades")
        _beside(cascades)
    else:
        empty(cascades, "Cascade sizes", "no cascade in either run")
    for row, survey in enumerate(shared, start=2):
        other = next(o for o in b.surveys if o.survey_id == survey.survey_id)
        options = sorted(survey.overall.keys() | other.overall.keys(), key=option_order)
        for axes, figures_of, name in ((panels[row][0], survey, "A"), (panels[row][1], other, "B")):
            mean = f", mean {figures_of.mean:.2f}" if figures_of.mean is not None else ""
            answers_plot(figures_of.by_community, options, f"{name}: {survey.label}{mean}", path, axes)
    _save(figure, path)


def _shown(run: StudyFigures, round_: int) -> Counter[str]:
    total: Counter[str] = Counter()
    for by_round in run.exposure.values():
        total.update(by_round.get(round_, Counter()))
    return total
