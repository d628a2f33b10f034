"""What a researcher reads off a run's record: figures by round and community, and two runs set side by side.

Read from the record's tables only (``DATA_DIR/runs/RUN_ID/record``): no broker. Agents are counted in the
community they were in at each round (the ``agents`` table's rows from their ``from_round``).
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from consumers.record_files import RecordFiles
from swarmstream.events import ACTIONS

NO_COMMUNITY = "(none)"


@dataclass
class SurveyFigures:
    """One survey's answers: its question, when it was asked, its options seen, and counts by community."""

    survey_id: str
    question: str
    round: int
    phase: str
    by_community: dict[str, Counter[str]] = field(default_factory=dict)
    values: list[int] = field(default_factory=list)  # a scale's answers, as numbers
    malformed: int = 0

    @property
    def label(self) -> str:
        return f"survey {self.survey_id}, {self.phase} round {self.round}"

    @property
    def overall(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.by_community.values():
            total.update(counts)
        return total

    @property
    def mean(self) -> float | None:
        return sum(self.values) / len(self.values) if self.values else None


@dataclass
class StudyFigures:
    """A run's figures, from its record."""

    run_id: str
    rounds: list[int]
    # round -> action -> acts; community -> round -> acts
    actions: dict[int, Counter[str]]
    acts_by_community: dict[str, Counter[int]]
    # broadcast id -> (its text, its audience) and round -> community -> agents shown it
    broadcasts: dict[str, tuple[str, str | None]]
    exposure: dict[str, dict[int, Counter[str]]]
    surveys: list[SurveyFigures]
    # per round: friendships formed, follows added, follows undone (round 0: before the run)
    friendships: Counter[int]
    follows: Counter[int]
    unfollows: Counter[int]
    cascade_sizes: list[int]
    cascade_depths: list[int]
    likes_per_post: list[int]
    interventions: list[dict[str, Any]]

    @property
    def communities(self) -> list[str]:
        return sorted(self.acts_by_community)


def figures(record_dir: Path, run_id: str = "") -> StudyFigures:
    """The figures of the run whose record is in ``record_dir``."""
    tables = RecordFiles(record_dir).tables()
    community_at = _communities(tables["agents"])
    actions = tables["actions"]
    rounds_seen = sorted(set(tables["rounds"]["round"].to_pylist()) | set(actions["round"].to_pylist()))
    by_round: dict[int, Counter[str]] = defaultdict(Counter)
    by_community: dict[str, Counter[int]] = defaultdict(Counter)
    for round_, agent, action in _rows(actions, "round", "agent_id", "action"):
        by_round[round_][action] += 1
        by_community[community_at(agent, round_)][round_] += 1
    broadcasts = {
        b: (text, community) for b, text, community in _rows(tables["broadcasts"], "broadcast_id", "text", "community")
    }
    exposure: dict[str, dict[int, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    exposures = tables["exposures"]
    seen = set()
    for round_, agent, item, kind in _rows(exposures, "round", "agent_id", "item_id", "kind"):
        if kind == "broadcast" and (round_, agent, item) not in seen:
            seen.add((round_, agent, item))
            exposure[item][round_][community_at(agent, round_)] += 1
    surveys: dict[str, SurveyFigures] = {}
    answers = tables["survey_answers"]
    for survey, question, round_, phase, agent, answer, value, malformed in _rows(
        answers, "survey_id", "question", "round", "phase", "agent_id", "answer", "value", "malformed"
    ):
        asked_round = round_ if round_ is not None else 0
        figures_of = surveys.setdefault(survey, SurveyFigures(survey, question, asked_round, phase or "after"))
        # An agent's community when it was asked: after a round's acts, as the next round began.
        at = asked_round + 1 if phase == "after" else asked_round
        counts = figures_of.by_community.setdefault(community_at(agent, at), Counter())
        counts[answer if answer is not None else "(no answer)"] += 1
        figures_of.malformed += bool(malformed)
        if value is not None:
            figures_of.values.append(value)
    friendships = Counter(r for (r,) in _rows(tables["friendships"], "round"))
    follows, unfollows = Counter(), Counter()
    for made, removed in _rows(tables["follows"], "round", "removed_round"):
        follows[made] += 1
        if removed is not None:
            unfollows[removed] += 1
    cascades = tables["cascades"]
    interventions = tables["interventions"].sort_by([("round", "ascending"), ("step", "ascending")]).to_pylist()
    return StudyFigures(
        run_id=run_id or record_dir.parent.name,
        rounds=[r for r in rounds_seen if r is not None],
        actions=dict(by_round),
        acts_by_community=dict(by_community),
        broadcasts=broadcasts,
        exposure={item: dict(by_round) for item, by_round in exposure.items()},
        surveys=sorted(surveys.values(), key=lambda s: (s.round, s.phase != "before", s.survey_id)),
        friendships=friendships,
        follows=follows,
        unfollows=unfollows,
        cascade_sizes=sorted(cascades["size"].to_pylist(), reverse=True),
        cascade_depths=cascades["depth"].to_pylist(),
        likes_per_post=tables["posts"]["likes"].to_pylist(),
        interventions=interventions,
    )


def _rows(table: pa.Table, *names: str) -> Any:
    return zip(*(table[name].to_pylist() for name in names), strict=True)


def _communities(agents: pa.Table) -> Any:
    """A function (agent, round) -> the agent's community then (``(none)``: none, or unknown)."""
    history: dict[str, tuple[list[int], list[str]]] = {}
    ordered = agents.sort_by([("agent_id", "ascending"), ("from_round", "ascending")])
    for agent, from_round, community in _rows(ordered, "agent_id", "from_round", "community"):
        starts, names = history.setdefault(agent, ([], []))
        starts.append(from_round)
        names.append(community or NO_COMMUNITY)

    def community_at(agent: str, round_: int | None) -> str:
        held = history.get(agent)
        if held is None:
            return NO_COMMUNITY
        at = bisect.bisect_right(held[0], round_ if round_ is not None else 0) - 1
        return held[1][max(at, 0)]

    return community_at


@dataclass(frozen=True)
class Difference:
    """One figure of two runs, and B - A."""

    what: str
    a: float
    b: float

    @property
    def difference(self) -> float:
        return self.b - self.a


def compare(a: StudyFigures, b: StudyFigures) -> list[Difference]:
    """The figures two arms are compared by, in the order they are printed: acts by round and action, exposure
    to broadcasts by round and community, each survey's mean and shares, cascades."""
    rows: list[Difference] = []
    for round_ in sorted(set(a.rounds) | set(b.rounds)):
        for action in ACTIONS:
            x, y = a.actions.get(round_, Counter())[action], b.actions.get(round_, Counter())[action]
            if x or y:
                rows.append(Difference(f"round {round_} {action}", x, y))
    for round_ in sorted(set(a.rounds) | set(b.rounds)):
        exposed_a, exposed_b = _exposed(a, round_), _exposed(b, round_)
        for community in sorted(exposed_a.keys() | exposed_b.keys()):
            rows.append(Difference(f"round {round_} shown a broadcast: {community}", exposed_a[community],
                                   exposed_b[community]))  # fmt: skip
    surveys_b = {s.survey_id: s for s in b.surveys}
    for survey in a.surveys:
        other = surveys_b.get(survey.survey_id)
        if other is None:
            continue
        if survey.mean is not None and other.mean is not None:
            rows.append(Difference(f"{survey.label} mean", survey.mean, other.mean))
        overall_a, overall_b = survey.overall, other.overall
        total_a, total_b = sum(overall_a.values()) or 1, sum(overall_b.values()) or 1
        for option in sorted(overall_a.keys() | overall_b.keys(), key=option_order):
            rows.append(Difference(f"{survey.label} share {option}", overall_a[option] / total_a,
                                   overall_b[option] / total_b))  # fmt: skip
    rows.append(Difference("cascades", len(a.cascade_sizes), len(b.cascade_sizes)))
    rows.append(Difference("largest cascade", max(a.cascade_sizes, default=0), max(b.cascade_sizes, default=0)))
    rows.append(Difference("deepest cascade", max(a.cascade_depths, default=0), max(b.cascade_depths, default=0)))
    return rows


def _exposed(run: StudyFigures, round_: int) -> Counter[str]:
    """Agents shown any of the run's broadcasts in ``round_``, by community (an agent once per broadcast)."""
    total: Counter[str] = Counter()
    for by_round in run.exposure.values():
        total.update(by_round.get(round_, Counter()))
    return total


def option_order(option: str) -> tuple[int, float | str]:
    try:
        return (0, float(option))
    except ValueError:
        return (1, option)


def render_comparison(a: StudyFigures, b: StudyFigures, rows: list[Difference]) -> str:
    """The comparison as a table: the figure, A, B, and B - A (a share in percentage points)."""
    width = max([len("figure"), *(len(row.what) for row in rows)])
    lines = [f"A: run {a.run_id}    B: run {b.run_id}", "",
             f"{'figure':<{width}}  {'A':>10}  {'B':>10}  {'B - A':>10}"]  # fmt: skip
    for row in rows:
        share = " share " in row.what
        shown = [f"{v * 100:>9.1f}%" if share else _number(v) for v in (row.a, row.b)]
        change = f"{row.difference * 100:>+8.1f}pp" if share else f"{row.difference:>+10,.2f}".rstrip("0").rstrip(".")
        lines.append(f"{row.what:<{width}}  {shown[0]:>10}  {shown[1]:>10}  {change:>10}")
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:>10,.0f}" if float(value).is_integer() else f"{value:>10,.3f}"
