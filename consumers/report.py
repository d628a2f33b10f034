"""A run's report: the summary and per-second throughput and latency, as JSON, Markdown and PNG plots.

Read from the response and dead-letter topics (from their beginning to their ends when it starts),
so it can be written for any run, finished or not, without the metrics consumer's state.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from swarmstream import topic_values
from swarmstream.events import ACTIONS, ASKED, DeadLetter, InteractionResponded
from swarmstream.performance import ResponseStats
from swarmstream.settings import Settings
from swarmstream.stats import json_safe, percentile
from swarmstream.transport import read_to_end


@dataclass
class Timeline:
    """Per whole second of response time: first answers, dead letters, end-to-end and LLM latencies."""

    answered: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    dead_lettered: defaultdict[int, int] = field(default_factory=lambda: defaultdict(int))
    latencies_s: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    llm_latencies_s: defaultdict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Society runs: per (run id, round), answers, actions, conversation turns and feed bytes.
    rounds: defaultdict[tuple[str, int], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def seconds(self) -> range:
        stamps = [*self.answered, *self.dead_lettered]
        return range(min(stamps), max(stamps) + 1) if stamps else range(0)


@dataclass(frozen=True)
class RunReport:
    performance: dict[str, float | int]
    summary: dict[str, object]
    end_to_end_ms_p50: float
    end_to_end_ms_p99: float
    undecodable: int
    # Society runs' rounds: run_id, round, answered, actions, conversation turns, mean feed bytes per act.
    rounds: list[dict[str, object]] = field(default_factory=list)


def tally(events: list[InteractionResponded | DeadLetter], stats: ResponseStats, timeline: Timeline) -> None:
    """Fold events into ``stats`` and ``timeline``; replays count once."""
    for event in events:
        if isinstance(event, DeadLetter):
            if stats.add_dead_letter(event):
                timeline.dead_lettered[int(event.created_at)] += 1
        elif stats.add_response(event):
            second = int(event.created_at)
            timeline.answered[second] += 1
            timeline.latencies_s[second].append(max(event.created_at - event.request_created_at, 0.0))
            timeline.llm_latencies_s[second].append(event.llm_latency_ms / 1000)
            if event.run_id is not None and event.round is not None and event.kind not in ASKED:
                figures = timeline.rounds[event.run_id, event.round]
                figures["answered"] += 1
                figures["conversation_turns"] += event.conversation_id is not None
                if event.action is not None:
                    figures[event.action] += 1
                    figures["acts"] += 1
                    figures["feed_bytes"] += event.feed_bytes


async def collect(settings: Settings) -> tuple[ResponseStats, Timeline, int]:
    """Read both topics to their ends: (stats, timeline, records that did not decode)."""
    stats, timeline, undecodable = ResponseStats(settings.requests_topic), Timeline(), 0
    async for batch in read_to_end(settings, [settings.responses_topic, settings.deadletter_topic]):
        strays: Counter[str] = Counter()
        events: list = list(topic_values.events(settings, batch, strays))
        undecodable += strays.total()
        tally(events, stats, timeline)
    return stats, timeline, undecodable


def write_report(stats: ResponseStats, timeline: Timeline, undecodable: int, out: Path) -> RunReport:
    """``summary.json``, ``throughput.png``, ``latency.png`` and ``report.md`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    latencies = sorted(latency for values in timeline.latencies_s.values() for latency in values)
    report = RunReport(
        performance=stats.performance().as_dict(),
        summary=json_safe(asdict(stats.summary())),
        end_to_end_ms_p50=percentile(latencies, 50) * 1000,
        end_to_end_ms_p99=percentile(latencies, 99) * 1000,
        undecodable=undecodable,
        rounds=[
            _round_figures(run_id, round_, figures) for (run_id, round_), figures in sorted(timeline.rounds.items())
        ],
    )
    (out / "summary.json").write_text(json.dumps(json_safe(asdict(report)), indent=2) + "\n")
    _plot_throughput(timeline, out / "throughput.png")
    _plot_latency(timeline, out / "latency.png")
    if report.rounds:
        _plot_rounds(report.rounds, out / "rounds.png")
    (out / "report.md").write_text(_markdown(report))
    return report


def _round_figures(run_id: str, round_: int, figures: Counter[str]) -> dict[str, object]:
    acts = figures["acts"]
    return {
        "run_id": run_id,
        "round": round_,
        "answered": figures["answered"],
        "actions": {action: figures[action] for action in ACTIONS},
        "conversation_turns": figures["conversation_turns"],
        "feed_bytes_per_act": figures["feed_bytes"] / acts if acts else 0.0,
    }


def _plot_rounds(rounds: list[dict[str, object]], path: Path) -> None:
    """Per round (of each run): actions stacked, and conversation turns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [
        f"{r['run_id']}:{r['round']}" if len({r["run_id"] for r in rounds}) > 1 else str(r["round"]) for r in rounds
    ]
    figure, (acted, talked) = plt.subplots(1, 2, figsize=(13, 4))
    bottom = [0] * len(rounds)
    colours = plt.get_cmap("tab20").colors  # twelve actions: each its own colour
    for index, action in enumerate(ACTIONS):
        counts = [r["actions"][action] for r in rounds]  # type: ignore[index]
        if not any(counts):
            continue  # an action nobody took: no empty legend entry
        acted.bar(labels, counts, bottom=bottom, label=action, color=colours[index % len(colours)])
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    acted.set(title="Actions per round", xlabel="round", ylabel="acts")
    acted.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")  # beside the bars, not over them
    talked.bar(labels, [r["conversation_turns"] for r in rounds])  # type: ignore[misc]
    talked.set(title="Conversation turns per round", xlabel="round", ylabel="turns")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_throughput(timeline: Timeline, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = timeline.seconds()
    start = seconds.start if seconds else 0
    figure, axes = plt.subplots(figsize=(9, 4))
    # Markers: a short run has only a few points.
    for label, counts in (("answered", timeline.answered), ("dead letters", timeline.dead_lettered)):
        axes.plot([s - start for s in seconds], [counts.get(s, 0) for s in seconds], marker="o", ms=3, label=label)
    axes.set(xlabel="seconds since the first response", ylabel="per second", title="Throughput")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_latency(timeline: Timeline, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = [s for s in timeline.seconds() if timeline.latencies_s.get(s)]
    start = seconds[0] if seconds else 0
    figure, (end_to_end, llm) = plt.subplots(2, 1, figsize=(9, 7), sharex=True)
    for axes, samples, title in (
        (end_to_end, timeline.latencies_s, "End-to-end latency (request created to response)"),
        (llm, timeline.llm_latencies_s, "LLM call duration"),
    ):
        for q in (50, 95, 99):
            values = [percentile(sorted(samples[s]), q) for s in seconds]
            axes.plot([s - start for s in seconds], values, marker="o", ms=3, label=f"p{q}")
        axes.set(ylabel="seconds", title=title)
        axes.legend()
        axes.grid(alpha=0.3)
    llm.set(xlabel="seconds since the first response")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _markdown(report: RunReport) -> str:
    run, summary = report.performance, report.summary
    by_reason = summary["dead_letter_reasons"]
    assert isinstance(by_reason, dict)
    reasons = (
        f"({', '.join(f'{reason}: {count:,}' for reason, count in sorted(by_reason.items()))})" if by_reason else ""
    )
    lines = [
        "# swarmstream run report",
        "",
        "| figure | value |",
        "|---|---|",
        f"| total operations | {run['total_operations']:,} |",
        f"| success rate | {run['success_rate']:.2f} % |",
        f"| average LLM response time | {run['avg_response_time']:.1f} ms |",
        f"| peak concurrent LLM calls | {run['peak_concurrent']:,} |",
        f"| operations per second | {run['operations_per_second']:.1f} |",
        f"| total time | {run['total_time']:.1f} s |",
        f"| end-to-end latency p50 / p99 | {report.end_to_end_ms_p50:.0f} / {report.end_to_end_ms_p99:.0f} ms |",
        f"| duplicates (at-least-once replays) | {summary['duplicates']:,} |",
        f"| dead letters | {summary['dead_lettered']:,} {reasons} |",
        f"| records that did not decode | {report.undecodable:,} |",
        "",
        "![throughput](throughput.png)",
        "",
        "![latency](latency.png)",
        "",
    ]
    if report.rounds:
        lines += [
            "## Society rounds",
            "",
            "| run | round | answered | " + " | ".join(ACTIONS) + " | conversation turns | feed bytes per act |",
            "|---|---|---|" + "---|" * len(ACTIONS) + "---|---|",
        ]
        for r in report.rounds:
            a = r["actions"]
            assert isinstance(a, dict)
            counted = " | ".join(f"{a.get(action, 0):,}" for action in ACTIONS)
            lines.append(
                f"| {r['run_id']} | {r['round']} | {r['answered']:,} | {counted} | {r['conversation_turns']:,} | "
                f"{r['feed_bytes_per_act']:.0f} |"
            )
        lines += ["", "![rounds](rounds.png)", ""]
    return "\n".join(lines)
