"""``swarmstream produce`` on the real broker: what it says it published is what the topics hold."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from swarmstream import codec
from swarmstream.cli import main
from swarmstream.events import AgentsCreated, Broadcast, InteractionRequested
from tests.pipeline import read_records

pytestmark = pytest.mark.integration


def produce(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["produce", *argv, "--quiet", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.timeout(90)
def test_produce_reports_as_json_what_the_topics_then_hold(cli_settings, capsys, monkeypatch):
    settings = cli_settings
    agents = produce(capsys, "agents", "--count", "30", "--batch-size", "10")
    cast = produce(capsys, "broadcast", "hello, society")
    lines = "".join(json.dumps({"agent_id": f"agent-{n:07d}", "context": f"hi {n}"}) + "\n" for n in range(3))
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    piped = produce(capsys, "interactions", "--file", "-", "--batch-size", "1")

    events = [codec.decode(v) for _, _, _, v in asyncio.run(read_records(settings, settings.agents_topic))]
    created = [event for event in events if isinstance(event, AgentsCreated)]
    assert agents == {"kind": "agents", "topic": settings.agents_topic, "events": len(created), "total": 30,
                      "unit": "agents"}  # fmt: skip
    assert sum(len(event.agents) for event in created) == 30
    (broadcast,) = [event for event in events if isinstance(event, Broadcast)]
    assert cast["event_id"] == broadcast.event_id and cast["events"] == 1
    requests = [codec.decode(v) for _, _, _, v in asyncio.run(read_records(settings, settings.requests_topic))]
    assert piped["total"] is None and piped["events"] == 3
    assert sorted(r.context for r in requests if isinstance(r, InteractionRequested)) == ["hi 0", "hi 1", "hi 2"]
