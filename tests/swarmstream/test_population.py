"""A population of one's own, as a researcher brings it: files checked, ids kept, activity obeyed, runs alike.

On the real broker: the README's two examples run as written (the embedded default, and a stack that outlives
each command), and two runs of one population with one seed are compared round by round.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas
import pytest

from swarmstream.cli import main
from swarmstream.events import ACTIONS
from swarmstream.transport import ensure_topics
from tests.pipeline import read_records

pytestmark = pytest.mark.integration

README = (Path(__file__).parents[2] / "README.md").read_text()
SECTION = README.split("## Your own population", 1)[1].split("\n## ", 1)[0]
PEOPLE = SECTION.split("```csv\n", 1)[1].split("```", 1)[0]
PEOPLE_IDS = {"wei", "ana", "bo", "cy"}


def shell(cwd: Path) -> dict[str, str]:
    """An environment as a user's shell has it: this interpreter's ``swarmstream`` on the PATH, no settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("SWARMSTREAM_")}
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


def run_line(line: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", line], cwd=cwd, env=shell(cwd), capture_output=True, text=True, timeout=timeout
    )


def record_of(cwd: Path, run_id: str | None = None) -> dict[str, pandas.DataFrame]:
    runs = sorted((cwd / "swarmstream-data" / "runs").iterdir(), key=lambda path: path.stat().st_mtime)
    run = next(path for path in runs if path.name == run_id) if run_id else runs[-1]
    return {path.stem: pandas.read_parquet(path) for path in (run / "record").glob("*.parquet")}


@pytest.mark.timeout(60)
def test_a_file_with_bad_rows_is_reported_line_by_line_and_nothing_is_published(cli_settings, tmp_path, capsys):
    asyncio.run(ensure_topics(cli_settings))
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE + "wei,Wei again,Duplicate.,,,\ndi,Di,,,,\nel,El,Engineer.,,,1.5\n")
    assert main(["import", "agents", str(path), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "3 bad rows of 7 (nothing published; --skip-invalid publishes the others)" in err
    assert f"{path}:6: id: 'wei' again (first on line 2)" in err
    assert f"{path}:7: persona: missing or empty" in err
    assert f"{path}:8: activity: " in err and "less than or equal to 1" in err
    assert asyncio.run(read_records(cli_settings, cli_settings.agents_topic)) == [], "nothing published"


@pytest.mark.timeout(400)
def test_the_readme_example_runs_as_written_on_the_embedded_default_with_the_imported_ids(tmp_path):
    (tmp_path / "people.csv").write_text(PEOPLE)
    command = SECTION.split("```bash\n", 1)[1].split("```", 1)[0].strip()
    assert command.startswith("swarmstream simulate --population people.csv")
    done = run_line(command, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "imported" in done.stderr and "4 agents created" in done.stderr
    tables = record_of(tmp_path)
    assert set(tables["agents"]["agent_id"]) == PEOPLE_IDS and len(tables["agents"]) == 4
    assert set(tables["actions"]["agent_id"]) <= PEOPLE_IDS and len(tables["actions"]) > 0
    bo = tables["actions"][tables["actions"]["agent_id"] == "bo"]
    assert sorted(bo["round"]) == [1, 2, 3], "activity 1: every round"


@pytest.mark.timeout(600)
def test_up_import_simulate_broadcast_and_down_as_separate_commands(tmp_path):
    (tmp_path / "people.csv").write_text(PEOPLE)
    lines = SECTION.split("### A stack that outlives one command", 1)[1].split("```bash\n", 1)[1].split("```")[0]
    outputs = []
    try:
        for line in lines.strip().splitlines():
            done = run_line(line, tmp_path)
            assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
            outputs.append((line, done))
    finally:
        run_line("swarmstream down", tmp_path)
    said = dict(outputs)
    assert "4 agents created" in said["swarmstream import agents people.csv"].stderr
    assert "1 friendships and 1 follows" in said["swarmstream import graph ties.csv"].stderr
    assert "swarmstream stack up since" in said["swarmstream status"].stdout
    assert "stack stopped" in said["swarmstream down"].stderr
    assert run_line("swarmstream status", tmp_path).returncode == 3, "none up any more"

    runs = sorted((tmp_path / "swarmstream-data" / "runs").iterdir(), key=lambda path: path.stat().st_mtime)
    first, second = (record_of(tmp_path, run.name) for run in runs)
    for tables in (first, second):
        assert set(tables["agents"]["agent_id"]) == PEOPLE_IDS, "the imported agents, no seeded ones"
        names = dict(zip(tables["agents"]["agent_id"], tables["agents"]["name"], strict=True))
        assert names["wei"] == "Wei Schmidt" and names["cy"] == "Cy Okafor", "names unchanged by the runs"
        assert ("ana", "wei", 0) in set(tables["friendships"][["agent_a", "agent_b", "round"]].itertuples(
            index=False, name=None)), "the imported friendship, before the run"  # fmt: skip
        follows = tables["follows"]
        imported = follows[follows["round"] == 0]  # the run's own follows (round 1 on) are its agents' acts
        assert list(imported[["follower", "followed"]].itertuples(index=False, name=None)) == [("bo", "wei")]
        assert set(follows["followed"]) <= PEOPLE_IDS, "only agents are followed (not a broadcast's author)"
    broadcast = said['swarmstream produce broadcast "The rent board meets on Friday."'].stdout.strip()
    assert broadcast in set(second["exposures"]["item_id"]), "the second run's agents read the broadcast"
    assert broadcast not in set(first["exposures"]["item_id"])


def population_file(path: Path) -> Path:
    """30 agents: 10 always act, 10 never, 10 only at 2 o'clock (round 2, with a round an hour from midnight)."""
    hours = json.dumps([1.0 if hour == 2 else 0.0 for hour in range(24)])
    rows = []
    for n in range(30):
        row = {"id": f"person-{n:02d}", "name": f"Person {n}", "persona": f"Neighbour number {n}.",
               "interests": ["housing", "parks", "music"][n % 3], "community": ["north", "south"][n % 2]}  # fmt: skip
        row.update({"activity": 1.0} if n < 10 else {"activity": 0.0} if n < 20 else {"activity_hours": hours})
        rows.append(json.dumps(row))
    path.write_text("\n".join(rows) + "\n")
    return path


ALIKE = ["round", "agent_id", "action", "target", "text", "malformed", "prompt_tokens", "completion_tokens",
         "prompt_chars", "feed_items", "feed_bytes"]  # fmt: skip
COUNTED = ["likes", "dislikes", "reposts", "quotes", "comments"]
FIGURES = ["requested", "answered", "dead_lettered", *ACTIONS, "malformed_actions", "conversation_turns",
           "new_friendships", "cost_usd", "feed_bytes_per_act", "acting"]  # fmt: skip


@pytest.mark.timeout(900)
def test_two_runs_of_one_population_with_one_seed_are_alike_in_every_round_and_activity_decides_who_acts(tmp_path):
    results, records = [], []
    for name in ("first", "second"):
        cwd = tmp_path / name
        cwd.mkdir()
        people = population_file(cwd / "people.jsonl")
        # The ten always acting are friends in a ring: messages, and so conversations, from round 1 on.
        ties = cwd / "ties.csv"
        ties.write_text("source,target,kind\n" + "".join(f"person-{n:02d},person-{(n + 1) % 10:02d},friend\n"
                                                      for n in range(10)))  # fmt: skip
        done = run_line(
            f"swarmstream simulate --population {people} --graph {ties} --rounds 3 --turns 3 --seed 5 "
            "--hours-per-round 1 --start-hour 0 --quiet --json",
            cwd,
            timeout=420,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        records.append(record_of(cwd))
    first, second = results
    assert first["run_id"] != second["run_id"], "the run id only names the run"
    assert sum(r["conversation_turns"] for r in first["rounds"]) > 0, "with conversations"
    assert sum(r["actions"]["like"] + r["actions"]["repost"] for r in first["rounds"]) > 0, "with likes and reposts"
    for ours, theirs in zip(first["rounds"], second["rounds"], strict=True):
        assert {k: v for k, v in ours.items() if k != "wall_s"} == {k: v for k, v in theirs.items() if k != "wall_s"}

    def alike(tables: dict[str, pandas.DataFrame], name: str, columns: list[str]) -> list[tuple]:
        table = tables[name]
        if name == "actions":  # a post's id names its run: the post an act answered, by what it is
            posts = tables["posts"].set_index("post_id")
            what = {post: (row["agent_id"], row["round"], row["kind"], row["depth"]) for post, row in posts.iterrows()}
            table = table.assign(target=[repr(what.get(target, target)) for target in table["target"]])
        chosen = table[columns].astype(object)
        return sorted(chosen.where(chosen.notna(), None).itertuples(index=False, name=None), key=repr)  # NaN: None

    for name, columns in (("actions", ALIKE), ("rounds", ["round", *FIGURES]),
                          ("messages", ["round", "turn", "speaker", "listener", "text", "kind"]),
                          ("friendships", ["agent_a", "agent_b", "round"]),
                          ("posts", ["round", "agent_id", "text", "kind", "depth", *COUNTED]),
                          ("follows", ["follower", "followed", "round", "removed_round"])):  # fmt: skip
        assert alike(records[0], name, columns) == alike(records[1], name, columns), name

    actions = records[0]["actions"]
    acted = {r: set(actions[actions["round"] == r]["agent_id"]) for r in (1, 2, 3)}
    always = {f"person-{n:02d}" for n in range(10)}
    at_two = {f"person-{n:02d}" for n in range(20, 30)}
    assert acted == {1: always, 2: always | at_two, 3: always}, "activity 1 always, 0 never, hourly at its hour"
