"""Studying a society as a researcher does: a plan's broadcast and surveys, two arms compared, a plan resumed.

On the real broker and simulator: two runs of one seeded population of 2,000 agents with one seed, the second's
plan adding a community broadcast at round 2 shown for 2 rounds; both survey everyone before round 1 and after
round 3. Exposure to the broadcast is in that community and those rounds only; ``compare`` finds round 1 equal
and the arms apart after it. A plan's errors name line and field; a run killed mid-plan resumes it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pandas
import pytest

from swarmstream.events import InterventionApplied, RoundStarted
from swarmstream.plan import PlanError, load_plan
from tests.pipeline import read_records
from tests.swarmstream.test_population import record_of, run_line
from tests.swarmstream.test_simulate_cli import driver, finish, workers  # noqa: F401 (a fixture)

pytestmark = pytest.mark.integration

COMMUNITY = "cooks"
BROADCAST = "The council will freeze rents for every tenant next year."
QUESTION = "Do you expect rents to freeze next year?"
SURVEYS = f"""
  - round: 1
    survey: {{id: before, question: "{QUESTION}", scale: [1, 5]}}
  - round: 3
    when: after
    survey: {{id: after, question: "{QUESTION}", scale: [1, 5]}}
"""
BROADCAST_STEP = f"""
  - round: 2
    broadcast: {{text: "{BROADCAST}", community: {COMMUNITY}, rounds: 2}}
  - round: 3
    when: after
    interview: {{question: "What have you heard about rents?", community: {COMMUNITY}, sample: 0.05}}
"""
RUN = "swarmstream simulate --agents 2000 --rounds 3 --active 0.1 --seed 5 --record-prompts --quiet --json"


def test_two_arms_differ_only_after_the_broadcast_shown_in_its_community_and_rounds(tmp_path):
    (tmp_path / "control.yaml").write_text("steps:" + SURVEYS)
    (tmp_path / "treated.yaml").write_text("steps:" + SURVEYS + BROADCAST_STEP)
    runs = {}
    for arm in ("control", "treated"):
        done = run_line(f"{RUN} --plan {arm}.yaml", tmp_path, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[arm] = json.loads(done.stdout.strip().splitlines()[-1])["run_id"]
    control, treated = record_of(tmp_path, runs["control"]), record_of(tmp_path, runs["treated"])

    # The broadcast reached its community only, in rounds 2 and 3 only (no other broadcast in either run).
    agents = treated["agents"].sort_values("from_round").groupby("agent_id").last()["community"]
    shown = treated["exposures"][treated["exposures"]["kind"] == "broadcast"]
    assert control["exposures"]["kind"].eq("broadcast").sum() == 0
    assert set(shown["round"]) == {2, 3}
    assert set(agents[shown["agent_id"]]) == {COMMUNITY}
    acting = treated["actions"].assign(community=agents[treated["actions"]["agent_id"]].to_numpy())
    for round_ in (2, 3):
        members = set(acting[(acting["round"] == round_) & (acting["community"] == COMMUNITY)]["agent_id"])
        assert set(shown[shown["round"] == round_]["agent_id"]) == members, "every acting member, each round"

    # The surveys: everyone, before round 1 and after round 3, answers on the scale.
    for record in (control, treated):
        answers = record["survey_answers"]
        assert answers.groupby("survey_id").size().to_dict() == {"after": 2000, "before": 2000}
        assert answers["value"].dropna().between(1, 5).all() and answers["malformed"].sum() < 0.1 * len(answers)
    interventions = treated["interventions"].sort_values("step")
    assert list(interventions["kind"]) == ["survey", "survey", "broadcast", "interview"]
    assert list(interventions["round"]) == [1, 3, 2, 3] and interventions["answered"].iloc[0] == 2000
    interviews = treated["interviews"]
    assert len(interviews) > 0 and interviews["answer"].str.startswith('I read "The council will freeze').all()
    assert all(BROADCAST in prompt for prompt in interviews["prompt"]), "the broadcast it saw is in its prompt"

    # compare: round 1 and the survey before it equal, the arms apart after.
    done = run_line(f"swarmstream compare {runs['control']} {runs['treated']} --json --out cmp", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["what"]: row for row in json.loads(done.stdout.splitlines()[0])}
    round_1 = [row for what, row in rows.items() if what.startswith(("round 1 ", "survey before,"))]
    assert round_1 and all(row["difference"] == 0 for row in round_1)
    assert rows[f"round 2 shown a broadcast: {COMMUNITY}"]["difference"] > 0
    assert rows["survey after, after round 3 mean"]["difference"] > 0, "the broadcast moved its community's answers"
    later = [row for what, row in rows.items() if what.startswith(("round 2 ", "round 3 ")) and "broadcast" not in what]
    assert any(row["difference"] != 0 for row in later), "the arms' acts differ after the broadcast"
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 10_000

    # The report's plots for researchers, from the record.
    done = run_line(f"swarmstream report --run {runs['treated']} --out report", tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("actions", "exposure", "surveys", "network", "cascades"):
        assert (tmp_path / "report" / "study" / f"{name}.png").stat().st_size > 10_000


def test_a_plans_errors_name_the_line_and_the_field(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        "steps:\n"
        "  - round: 2\n"
        "    broadcast: {text: Hello, rounds: 0}\n"
        "  - round: 3\n"
        "    survey:\n"
        "      question: Why?\n"
        "      scale: [1, 5]\n"
        "      choices: [a, b]\n"
        "  - round: 1\n"
        "    mute: agent-1\n"
        "    ban: agent-2\n"
        "  - round: 1\n"
        "    update: {agent: agent-1, colour: red}\n"
    )
    with pytest.raises(PlanError) as raised:
        load_plan(plan)
    said = str(raised.value).splitlines()
    assert said[0] == f"plan {plan}:3: step 1, broadcast.rounds: Input should be greater than or equal to 1"
    assert said[1].startswith(f"plan {plan}:5: step 2, survey: a survey takes a scale")
    assert said[2].startswith(f"plan {plan}:9: step 3: a step does exactly one of") and said[2].endswith("mute, ban")
    assert said[3] == f"plan {plan}:13: step 4, update.colour: Extra inputs are not permitted"
    plan.write_text("steps:\n  - round: 9\n    ban: agent-1\n")
    done = run_line(f"swarmstream simulate --agents 20 --rounds 3 --plan {plan}", tmp_path)
    assert done.returncode == 1 and "plan step 1 (ban) is at round 9: the run has 3" in done.stderr
    plan.write_text('[{"round": 1, "mute": "nobody-here"}]')  # JSON too
    done = run_line(f"swarmstream simulate --agents 20 --rounds 1 --plan {plan} --quiet", tmp_path, timeout=300)
    assert done.returncode == 1 and "the plan names agents the population does not hold: 'nobody-here'" in done.stderr


def test_a_run_killed_in_the_middle_of_its_plan_resumes_it(workers, tmp_path):  # noqa: F811
    settings, _ = workers
    plan = tmp_path / "plan.yaml"
    plan.write_text("steps:" + SURVEYS + BROADCAST_STEP)
    size = ["--agents", "300", "--active", "0.2", "--seed", "3", "--quiet", "--json"]
    first = driver(settings, "--rounds", "3", "--plan", str(plan), *size)
    deadline = time.monotonic() + 240
    while True:  # until round 2 has started: the survey before round 1 and the broadcast applied
        log = [e for *_, e in asyncio.run(_run_log(settings))]
        if any(isinstance(e, RoundStarted) and e.round == 2 for e in log):
            break
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.stderr else ""
        time.sleep(0.3)
    first.kill()
    first.communicate()
    run_id = next(e.run_id for e in log if isinstance(e, RoundStarted))
    assert [e.step for e in log if isinstance(e, InterventionApplied)] == [0, 2], "the survey, then the broadcast"

    result = finish(driver(settings, "--resume", run_id, "--quiet", "--json"), timeout=400)
    assert [r["round"] for r in result["rounds"]] == [1, 2, 3]
    applied = [e for *_, e in asyncio.run(_run_log(settings)) if isinstance(e, InterventionApplied)]
    assert sorted(e.step for e in applied) == [0, 1, 2, 3], "each step applied once, the rest after the resume"
    tables = _tables(settings, run_id)
    assert tables["survey_answers"].groupby("survey_id").size().to_dict() == {"after": 300, "before": 300}
    shown = tables["exposures"][tables["exposures"]["kind"] == "broadcast"]
    assert set(shown["round"]) <= {2, 3} and len(shown) > 0


async def _run_log(settings) -> list:
    from swarmstream.topic_values import RUNS

    return [(*rest, RUNS.decode(value)) for *rest, value in sorted(await read_records(settings, settings.runs_topic))]


def _tables(settings, run_id: str) -> dict[str, pandas.DataFrame]:
    record = Path(settings.data_dir) / "runs" / run_id / "record"
    return {path.stem: pandas.read_parquet(path) for path in record.glob("*.parquet")}


def test_the_readmes_plan_runs_as_written(tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Studying a society", 1)[1].split("\n## ", 1)[0]
    (tmp_path / "plan.yaml").write_text(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    command = section.split("```bash\n", 1)[1].split("```", 1)[0].strip()
    assert command.startswith("swarmstream simulate ") and "--plan plan.yaml" in command
    done = run_line(f"{command} --quiet --json", tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    record = record_of(tmp_path)
    interventions = record["interventions"].sort_values("step")
    assert list(interventions["kind"]) == [
        "survey", "broadcast", "post", "remove_post", "update", "mute", "survey", "interview",
    ]  # fmt: skip
    posted, removed = interventions["target"].iloc[2], interventions["target"].iloc[3]
    assert posted == removed and posted in set(record["posts"]["post_id"]), "the injected post, in the record"
    shown = record["exposures"][record["exposures"]["item_id"] == posted]
    assert set(shown["round"]) <= {2}, "shown in round 2 only: removed before round 3"
    muted = record["exposures"].merge(record["posts"], left_on="item_id", right_on="post_id")
    assert not ((muted["agent_id_y"] == "agent-0000011") & (muted["round_x"] == 3)).any(), "muted from round 3"
    assert record["agents"].query("agent_id == 'agent-0000007'")["community"].iloc[-1] == "readers"
    assert record["survey_answers"].groupby("survey_id").size().to_dict() == {"after": 2000, "before": 2000}


def test_interviews_and_surveys_of_a_live_society_as_the_readme_asks_them(tmp_path):
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Studying a society", 1)[1].split("\n## ", 1)[0]
    lines = [
        block.split("```", 1)[0].strip().splitlines()
        for block in section.split("### Interviews", 1)[1].split("### Arms", 1)[0].split("```bash\n")[1:]
    ]
    (up, simulate, interview), surveys = lines
    nothing = run_line(interview.split("#")[0].replace("--run RUN_ID ", ""), tmp_path)
    assert nothing.returncode == 1 and "no broker is configured and no stack is up" in nothing.stderr
    try:
        for line in (up, simulate):
            done = run_line(line, tmp_path)
            assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
        run_id = next((tmp_path / "swarmstream-data" / "runs").iterdir()).name
        said = {}
        for line in (interview, *surveys):
            done = run_line(line.replace("RUN_ID", run_id), tmp_path)
            assert done.returncode == 0, f"{line}\n{done.stderr[-3000:]}"
            said[line.split()[1] + str(len(said))] = done
    finally:
        run_line("swarmstream down", tmp_path)
    answers = said["interview0"].stdout.strip().splitlines()
    assert answers and all(line.startswith("agent-") and ": " in line for line in answers)
    scale = said["survey1"].stdout.splitlines()
    assert scale[0] == "Do you expect rents to freeze?" and scale[1].split()[:2] == ["community", "1"]
    assert sum(int(row.split()[-1].replace(",", "")) for row in scale[2:]) == 2000, "every agent, by community"
    assert (tmp_path / "survey.png").stat().st_size > 10_000
    record = record_of(tmp_path, run_id)
    assert len(record["interviews"]) == len(answers)
    assert set(record["interviews"]["round"]) == {3} and set(record["interviews"]["phase"]) == {"after"}
    assert record["survey_answers"].groupby("question").size()["Do you expect rents to freeze?"] == 2000
    choices = record["survey_answers"][record["survey_answers"]["question"] == "What matters most?"]
    assert 100 <= len(choices) <= 300 and set(choices["answer"].dropna()) <= {"rent", "transit", "parks"}
