"""A population from a file: every bad row named with its line, nothing half-imported, an unchanged row silent."""

from __future__ import annotations

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from producers.population import BadPopulation, Prepared, agents, digest, prepare, profile_digest
from streams import profiles
from swarmstream import codec
from swarmstream.events import AgentsCreated, AgentSpec, AgentUpdated


def check(source, known=None):
    """One pass over ``source``, as an import makes it: what it found, and the records it would publish."""
    found = Prepared()
    records = list(prepare(source, known or {}, partitions=4, batch_size=10, found=found))
    return found, records


def specs(source):
    return [spec for _, spec in agents(source) if not isinstance(spec, list)]


GOOD = """id,name,persona,interests,traits,community,activity,district
u1,Wei,"Renter in the north, worried about prices.",housing;transport,careful,urban_renters,0.3,north
u2,Ana,Teacher and parent.,"[""schools"", ""parks""]",,parents,,south
"""


def test_a_good_csv_becomes_agents_with_their_lists_activity_and_attributes(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(GOOD)
    checked, _ = check(path)
    assert (checked.rows, checked.rejections) == (2, [])
    wei, ana = specs(path)
    assert (wei.agent_id, wei.interests, wei.traits, wei.activity, wei.attributes) == (
        "u1",
        ["housing", "transport"],
        ["careful"],
        0.3,
        {"district": "north"},
    )
    assert (ana.interests, ana.activity, ana.community) == (["schools", "parks"], None, "parents")


def test_every_bad_row_is_named_with_its_line_and_field(tmp_path):
    hours = ";".join(["0.5"] * 23)
    path = tmp_path / "bad.csv"
    path.write_text(
        "id,name,persona,activity,activity_hours\n"
        "u1,Wei,Renter.,0.3,\n"
        "u2,Ana,,0.2,\n"  # empty persona
        "u3,Bo,Baker.,1.5,\n"  # activity above 1
        f"u4,Cy,Cook.,,{hours}\n"  # 23 hours
        "u1,Wei again,Renter.,,\n"  # a duplicate id
        "u6,Di,Driver.,0.1,0.5\n"  # both
        "u7,Ed\n"  # a missing value
    )
    checked, records = check(path)
    shown = [str(rejection) for rejection in checked.rejections]
    assert shown[0] == f"{path}:3: persona: missing or empty"
    assert shown[1].startswith(f"{path}:4: activity: ") and "less than or equal to 1" in shown[1]
    assert shown[2].startswith(f"{path}:5: activity_hours: ") and "at least 24" in shown[2]
    assert shown[3] == f"{path}:6: id: 'u1' again (first on line 2)"
    assert shown[4] == f"{path}:7: activity: give activity or activity_hours, not both"
    assert shown[5] == f"{path}:8: (row): fewer values than the header's 5"
    assert checked.bad_lines == {3, 4, 5, 6, 7, 8} and checked.rows == 7
    error = BadPopulation(checked.rejections, checked.rows)
    assert "6 bad rows of 7 (nothing published" in str(error) and shown[0] in str(error)
    (created,) = (codec.decode(record.value, AgentsCreated) for record in records)
    assert [spec.agent_id for spec in created.agents] == ["u1"], "--skip-invalid publishes the good"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("nohead.csv", "id,name\nu1,Wei\n", "(header): no column persona (it has id, name)"),
        ("latin.csv", b"id,name,persona\nu1,Jos\xe9,Ren\xe9e\n", "(file): not UTF-8"),
        ("rows.jsonl", b'{"id": "u1", "name": "Wei", "persona": "Renter."}\n[1, 2]\n{"id": \n', None),
    ],
)
def test_files_that_are_not_populations_say_where(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    shown = [str(rejection) for rejection in check(path)[0].rejections]
    if expected is None:  # JSON lines: each bad line named
        assert shown == [f"{path}:2: (row): a JSON object, not list", shown[1]]
        assert shown[1].startswith(f"{path}:3: (row): not JSON")
    else:
        assert len(shown) == 1 and shown[0].startswith(f"{path}:") and expected in shown[0]


def test_a_parquet_file_is_read_in_batches_with_row_numbers(tmp_path):
    path = tmp_path / "people.parquet"
    table = pa.table({
        "id": [f"u{i}" for i in range(5)], "name": ["N"] * 5, "persona": ["P"] * 4 + [""],
        "activity_hours": [[0.1] * 24] * 5, "age": [30, 31, 32, 33, 34],
    })  # fmt: skip
    pq.write_table(table, path)
    checked, _ = check(path)
    assert [str(r) for r in checked.rejections] == [f"{path}:5: persona: missing or empty"]
    first = specs(path)[0]
    assert first.activity_hours == [0.1] * 24 and first.attributes == {"age": 30}


def test_the_same_file_again_publishes_nothing_new_and_a_changed_row_is_an_update(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(GOOD)
    first_found, first = check(path)
    created = [codec.decode(record.value, AgentsCreated) for record in first]
    assert sum(len(e.agents) for e in created) == 2 and first_found.counts.created == 2
    assert sorted(first_found.created) == ["u1", "u2"] and sum(record.size for record in first) == 2
    known = {spec.agent_id: digest(spec) for spec in specs(path)}
    again_found, again = check(path, known)
    assert again == [] and again_found.counts.unchanged == 2, "nothing new"
    assert [e.event_id for e in created] == [
        codec.decode(record.value, AgentsCreated).event_id for record in check(path)[1]
    ], "derived ids: the same file publishes the same events"
    path.write_text(GOOD.replace("Teacher and parent.", "Teacher and runner."))
    known = {spec.agent_id: digest(spec) for spec in specs(tmp_path / "people.csv")}
    path.write_text(GOOD)
    found, (record,) = check(path, known)
    update = codec.decode(record.value, AgentUpdated)
    assert (
        update.agent_id == "u2"
        and update.persona == "Teacher and parent."
        and update.attributes == {"district": "south"}
    )
    assert (found.counts.created, found.counts.updated, found.counts.unchanged) == (0, 1, 1)
    assert found.changed == {"u2": digest(specs(path)[1])} and found.created == []


def test_a_stored_profile_says_what_its_row_said(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text(GOOD)
    for spec in specs(path):
        assert profile_digest(profiles.created(spec)) == digest(spec)
    model = AgentSpec(**msgspec.structs.asdict(spec))
    assert digest(model) == digest(spec), "the digest of a row is the same whichever way it was read"
