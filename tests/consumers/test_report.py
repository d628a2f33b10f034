"""The run report: summary, per-second timeline and plots, from response and dead-letter events."""

from __future__ import annotations

import asyncio
import json

import pytest

from consumers.report import Timeline, tally, write_report
from swarmstream import codec
from swarmstream.cli import main
from swarmstream.events import ACTIONS, DeadLetter, InteractionResponded
from swarmstream.performance import ResponseStats
from swarmstream.transport import ensure_topics, make_producer

REQUESTS = "p.interactions.requests"


def answer(request_id: str, created: float, answered: float) -> InteractionResponded:
    return InteractionResponded(
        request_id=request_id, agent_id="a", content="c", model="m", prompt_tokens=1, completion_tokens=1,
        llm_latency_ms=50, llm_inflight=2, request_created_at=created, created_at=answered,
    )  # fmt: skip


def test_timeline_counts_first_answers_per_second_and_the_report_is_written(tmp_path):
    events: list[InteractionResponded | DeadLetter] = [
        answer(f"r{i}", created=1000.0, answered=1000.2 + i * 0.5) for i in range(6)
    ]
    events.append(answer("r0", created=1000.0, answered=1009.0))  # a replay: not counted again
    events.append(
        DeadLetter(
            request_id="x",
            reason="llm_timeout",
            source_topic=REQUESTS,
            source_partition=0,
            source_offset=3,
            created_at=1002.5,
        )
    )
    stats, timeline = ResponseStats(REQUESTS), Timeline()
    tally(events, stats, timeline)
    assert dict(timeline.answered) == {1000: 2, 1001: 2, 1002: 2}
    assert dict(timeline.dead_lettered) == {1002: 1}
    assert timeline.latencies_s[1002] == pytest.approx([2.2, 2.7])
    assert timeline.seconds() == range(1000, 1003)

    report = write_report(stats, timeline, undecodable=1, out=tmp_path / "out")
    assert report.performance["total_operations"] == 7
    assert round(report.end_to_end_ms_p50) == 1200
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["performance"] == report.performance and saved["undecodable"] == 1
    assert saved["summary"]["duplicates"] == 1
    for plot in ("throughput.png", "latency.png"):
        assert (tmp_path / "out" / plot).read_bytes().startswith(b"\x89PNG")
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "| total operations | 7 |" in markdown and "![latency](latency.png)" in markdown


def test_an_empty_run_still_writes_a_report(tmp_path):
    report = write_report(ResponseStats(REQUESTS), Timeline(), 0, tmp_path)
    assert report.performance["total_operations"] == 0
    assert json.loads((tmp_path / "summary.json").read_text())["end_to_end_ms_p50"] is None
    assert (tmp_path / "throughput.png").exists()


def test_society_rounds_are_tabled_and_plotted_per_round(tmp_path):
    def acted(request_id: str, round_: int, action: str | None, conversation: str | None = None):
        return answer(request_id, 1000.0, 1001.0).model_copy(
            update={"run_id": "run-1", "round": round_, "action": action, "conversation_id": conversation,
                    "feed_bytes": 100 if action else 0}
        )  # fmt: skip

    events = [acted("a", 1, "post"), acted("b", 1, "message"), acted("c", 1, None, "conv"), acted("d", 2, "none")]
    stats, timeline = ResponseStats(REQUESTS), Timeline()
    tally([*events, events[0]], stats, timeline)
    report = write_report(stats, timeline, 0, tmp_path)
    first, second = report.rounds
    assert (first["round"], first["answered"], first["conversation_turns"]) == (1, 3, 1)
    assert (
        first["actions"] == {**dict.fromkeys(ACTIONS, 0), "post": 1, "message": 1}
        and first["feed_bytes_per_act"] == 100
    )
    assert second["actions"]["none"] == 1
    assert (tmp_path / "rounds.png").read_bytes().startswith(b"\x89PNG")
    counted = " | ".join("1" if action in ("post", "message") else "0" for action in ACTIONS)
    assert f"| run-1 | 1 | 3 | {counted} | 1 | 100 |" in (tmp_path / "report.md").read_text()


@pytest.mark.integration
@pytest.mark.timeout(90)
def test_the_report_command_reads_the_run_and_prints_its_summary_as_json(cli_settings, capsys, tmp_path):
    """The response and dead-letter topics read to their ends (an undecodable response counted), then
    the summary on stdout with ``--json``."""
    settings = cli_settings

    async def publish() -> None:
        await ensure_topics(settings)
        producer = make_producer(settings)
        await producer.start()
        try:
            await producer.send_and_wait(settings.responses_topic, codec.encode(answer("r1", 1000.0, 1000.5)))
            await producer.send_and_wait(settings.responses_topic, b"\xc1")
        finally:
            await producer.stop()

    asyncio.run(publish())
    assert main(["report", "--out", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["undecodable"] == 1
    assert summary["summary"]["answered"] == 1
