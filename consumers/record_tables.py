"""A run's record, as rows: what each event read adds to which table, column by column.

Two kinds of tables. The raw tables are what the record consumer appends while the run goes on, in
parts, as events arrive (:class:`Rows`). The study's tables (:data:`STUDY`) are made from them when the
record is compacted (``consumers/record_files.py``): rows deduplicated on their keys, agent events
assigned to rounds by the agents topic's offsets at each round's start, the agents' state folded per
round, friendships and exposures resolved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from swarmstream.events import (
    ACTIONS,
    ENGAGEMENTS,
    AgentDeleted,
    AgentUpdated,
    Broadcast,
    DeadLetter,
    InteractionRequested,
    InterventionApplied,
    RoundCompleted,
    RoundStarted,
    RunEnded,
    RunStarted,
    derived_id,
    post_id,
)
from swarmstream.pricing import Prices
from swarmstream.responses_codec import Responded

_TEXTS = pa.list_(pa.string())


def _schema(*fields: tuple[str, pa.DataType]) -> pa.Schema:
    return pa.schema(list(fields))


# Raw tables: appended while the run goes on; ``KEYS`` dedupes them (a record read twice is one row).
RAW: dict[str, pa.Schema] = {
    "actions": _schema(
        ("event_id", pa.string()), ("request_id", pa.string()), ("round", pa.int32()), ("agent_id", pa.string()),
        ("action", pa.string()), ("target", pa.string()), ("text", pa.string()), ("malformed", pa.bool_()),
        ("prompt_tokens", pa.int32()), ("completion_tokens", pa.int32()), ("cost_usd", pa.float64()),
        ("latency_ms", pa.float64()), ("model", pa.string()), ("prompt_chars", pa.int32()),
        ("feed_items", pa.int32()), ("feed_bytes", pa.int32()), ("created_at", pa.float64()),
        ("prompt", pa.string()),
    ),
    "posts": _schema(
        ("post_id", pa.string()), ("round", pa.int32()), ("agent_id", pa.string()), ("text", pa.string()),
        ("created_at", pa.float64()), ("kind", pa.string()), ("parent_id", pa.string()),
    ),
    "messages": _schema(
        ("message_id", pa.string()), ("round", pa.int32()), ("conversation_id", pa.string()), ("turn", pa.int32()),
        ("speaker", pa.string()), ("listener", pa.string()), ("text", pa.string()), ("kind", pa.string()),
        ("prompt_tokens", pa.int32()), ("completion_tokens", pa.int32()), ("cost_usd", pa.float64()),
        ("created_at", pa.float64()),
    ),
    "exposures": _schema(
        ("round", pa.int32()), ("agent_id", pa.string()), ("item_id", pa.string()), ("position", pa.int32()),
        ("act_event_id", pa.string()),
    ),
    "friend_requests": _schema(
        ("event_id", pa.string()), ("request_id", pa.string()), ("round", pa.int32()), ("agent_id", pa.string()),
        ("asked_by", pa.string()), ("decision", pa.string()), ("malformed", pa.bool_()),
    ),
    "dead_letters": _schema(
        ("event_id", pa.string()), ("request_id", pa.string()), ("round", pa.int32()), ("agent_id", pa.string()),
        ("kind", pa.string()), ("reason", pa.string()), ("detail", pa.string()), ("attempts", pa.int32()),
        ("created_at", pa.float64()),
    ),
    # Agent events as read, where they were read: assigned to rounds when the record is compacted.
    "agent_events": _schema(
        ("event_id", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()), ("index", pa.int32()),
        ("agent_id", pa.string()), ("change", pa.string()), ("name", pa.string()), ("persona", pa.string()),
        ("community", pa.string()), ("traits", _TEXTS), ("interests", _TEXTS), ("activity", pa.float64()),
        ("activity_hours", pa.list_(pa.float64())), ("model", pa.string()), ("attributes", pa.string()),
        ("add_friends", _TEXTS), ("remove_friends", _TEXTS), ("add_follows", _TEXTS), ("remove_follows", _TEXTS),
        ("tie_weights", pa.string()),
    ),
    "broadcast_events": _schema(
        ("broadcast_id", pa.string()), ("partition", pa.int32()), ("offset", pa.int64()), ("author", pa.string()),
        ("community", pa.string()), ("text", pa.string()), ("created_at", pa.float64()),
    ),
    "round_starts": _schema(
        ("round", pa.int32()), ("acting", pa.int32()), ("agents_ends", pa.list_(pa.int64())),
        ("started_at", pa.float64()),
    ),
    "rounds": _schema(
        ("round", pa.int32()), ("requested", pa.int32()), ("answered", pa.int32()), ("dead_lettered", pa.int32()),
        *((action, pa.int32()) for action in ACTIONS),
        ("malformed_actions", pa.int32()), ("conversation_turns", pa.int32()), ("new_friendships", pa.int32()),
        ("cost_usd", pa.float64()), ("wall_s", pa.float64()), ("feed_bytes_per_act", pa.float64()),
        ("dead_letter_reasons", pa.string()), ("calls_by_model", pa.string()), ("cost_by_model", pa.string()),
        ("completed_at", pa.float64()),
    ),
    "run": _schema(
        ("event_id", pa.string()), ("type", pa.string()), ("fields", pa.string()), ("created_at", pa.float64()),
    ),
    "interventions": _schema(
        ("step", pa.int32()), ("round", pa.int32()), ("phase", pa.string()), ("kind", pa.string()),
        ("target", pa.string()), ("detail", pa.string()), ("asked", pa.int32()), ("answered", pa.int32()),
        ("malformed", pa.int32()), ("dead_lettered", pa.int32()), ("cost_usd", pa.float64()),
        ("applied_at", pa.float64()),
    ),
    "interviews": _schema(
        ("event_id", pa.string()), ("request_id", pa.string()), ("interview_id", pa.string()), ("round", pa.int32()),
        ("phase", pa.string()), ("agent_id", pa.string()), ("question", pa.string()), ("answer", pa.string()),
        ("prompt_tokens", pa.int32()), ("completion_tokens", pa.int32()), ("cost_usd", pa.float64()),
        ("model", pa.string()), ("feed_items", pa.int32()), ("created_at", pa.float64()), ("prompt", pa.string()),
    ),
    "survey_answers": _schema(
        ("event_id", pa.string()), ("request_id", pa.string()), ("survey_id", pa.string()), ("round", pa.int32()),
        ("phase", pa.string()), ("agent_id", pa.string()), ("question", pa.string()), ("answer", pa.string()),
        ("value", pa.int32()), ("malformed", pa.bool_()), ("reply", pa.string()), ("prompt_tokens", pa.int32()),
        ("completion_tokens", pa.int32()), ("cost_usd", pa.float64()), ("feed_items", pa.int32()),
        ("created_at", pa.float64()),
    ),
    # Every answered LLM call of the run: which model and endpoint answered it, its tokens and cost.
    "llm_calls": _schema(
        ("event_id", pa.string()), ("request_id", pa.string()), ("round", pa.int32()), ("agent_id", pa.string()),
        ("kind", pa.string()), ("model", pa.string()), ("endpoint", pa.string()), ("prompt_tokens", pa.int32()),
        ("cached_tokens", pa.int32()), ("completion_tokens", pa.int32()), ("cost_usd", pa.float64()),
        ("latency_ms", pa.float64()), ("attempts", pa.int32()), ("created_at", pa.float64()),
    ),
}  # fmt: skip
KEYS: dict[str, tuple[str, ...]] = {
    "actions": ("event_id",),
    "posts": ("post_id",),
    "messages": ("message_id",),
    "exposures": ("act_event_id", "position"),
    "friend_requests": ("event_id",),
    "dead_letters": ("event_id", "request_id"),
    "agent_events": ("event_id", "agent_id"),
    "broadcast_events": ("broadcast_id",),
    "round_starts": ("round",),
    "rounds": ("round",),
    "run": ("event_id",),
    "interventions": ("step",),
    "interviews": ("event_id",),
    "survey_answers": ("event_id",),
    "llm_calls": ("event_id",),
}

# The study's tables, in the order the README describes them.
STUDY = (
    "agents", "actions", "posts", "cascades", "engagements", "messages", "exposures", "friendships", "follows",
    "friend_requests", "broadcasts", "dead_letters", "rounds", "interventions", "interviews", "survey_answers",
    "llm_calls",
)  # fmt: skip
# Actions that make a post (a repost's text is the post it shares).
POSTING = ("post", "repost", "quote", "comment")


class Rows:
    """Rows for the raw tables, column by column (cheaper than a dict per row at a million agents)."""

    def __init__(self) -> None:
        self.columns: dict[str, dict[str, list[Any]]] = {
            name: {field.name: [] for field in schema} for name, schema in RAW.items()
        }

    def add(self, table: str, *values: Any) -> None:
        for column, value in zip(self.columns[table].values(), values, strict=True):
            column.append(value)

    def count(self) -> int:
        return sum(len(next(iter(columns.values()))) for columns in self.columns.values())

    def tables(self) -> dict[str, pa.Table]:
        """The non-empty raw tables."""
        return {
            name: pa.table({field.name: pa.array(columns[field.name], field.type) for field in RAW[name]})
            for name, columns in self.columns.items()
            if next(iter(columns.values()))
        }

    def response(self, r: Responded, prices: Prices) -> None:
        """An answer of the run: an act (its action, post, message, exposures), a chat said to someone, a decision."""
        cost = prices.of_answer(r)
        self.add(
            "llm_calls", r.event_id, r.request_id, r.round, r.agent_id, r.kind, r.model, r.endpoint, r.prompt_tokens,
            r.cached_tokens, r.completion_tokens, cost, r.llm_latency_ms, r.llm_attempts, r.created_at,
        )  # fmt: skip
        if r.kind == "act":
            prompt = orjson.dumps(r.prompt).decode() if r.prompt is not None else None
            self.add(
                "actions", r.event_id, r.request_id, r.round, r.agent_id, r.action, r.action_target, r.action_text,
                r.action_malformed, r.prompt_tokens, r.completion_tokens, cost, r.llm_latency_ms, r.model,
                r.prompt_chars, len(r.feed), r.feed_bytes, r.created_at, prompt,
            )  # fmt: skip
            for position, item in enumerate(r.feed):
                self.add("exposures", r.round, r.agent_id, item, position, r.event_id)
            if r.action in POSTING and not r.action_malformed:
                parent = r.action_target if r.action != "post" else None
                self.add(
                    "posts", post_id(r.request_id), r.round, r.agent_id, r.action_text, r.created_at, r.action, parent
                )
            elif r.action == "message" and r.action_target is not None:
                # Its id is the act's request id, as in the listener's inbox; a conversation it opens is derived.
                conversation = derived_id("conversation", r.request_id) if r.max_turns > 1 else None
                self.add(
                    "messages", r.request_id, r.round, conversation, 1, r.agent_id, r.action_target, r.action_text,
                    "act", 0, 0, 0.0, r.created_at,
                )  # fmt: skip
        elif r.kind == "interview":
            prompt = orjson.dumps(r.prompt).decode() if r.prompt is not None else None
            self.add(
                "interviews", r.event_id, r.request_id, r.question_id, r.round, r.phase, r.agent_id, r.question,
                r.content, r.prompt_tokens, r.completion_tokens, cost, r.model, len(r.feed), r.created_at, prompt,
            )  # fmt: skip
        elif r.kind == "survey":
            self.add(
                "survey_answers", r.event_id, r.request_id, r.question_id, r.round, r.phase, r.agent_id, r.question,
                r.answer, r.answer_value, r.answer_malformed, r.content, r.prompt_tokens, r.completion_tokens, cost,
                len(r.feed), r.created_at,
            )  # fmt: skip
        elif r.kind == "friend_request":
            self.add(
                "friend_requests", r.event_id, r.request_id, r.round, r.agent_id, r.target_agent_id, r.decision,
                r.decision_malformed,
            )  # fmt: skip
        elif r.target_agent_id is not None:
            self.add(
                "messages", r.request_id, r.round, r.conversation_id, r.turn, r.agent_id, r.target_agent_id,
                r.content, "turn" if r.turn > 1 else "chat", r.prompt_tokens, r.completion_tokens, cost, r.created_at,
            )  # fmt: skip

    def dead_letter(self, letter: DeadLetter, request: InteractionRequested) -> None:
        self.add(
            "dead_letters", letter.event_id, request.request_id, request.round, request.agent_id, request.kind,
            letter.reason, letter.detail, letter.attempts, letter.created_at,
        )  # fmt: skip

    def created(self, event_id: str, partition: int, offset: int, specs: Sequence[tuple[int, Any]]) -> None:
        """A creation's agents (``(index in the record, spec)``), column by column: a million of them at a run's
        start."""
        columns = self.columns["agent_events"]
        count = len(specs)
        for name, value in (("event_id", event_id), ("partition", partition), ("offset", offset), ("change", "created"),
                            ("add_friends", None), ("remove_friends", None), ("add_follows", None),
                            ("remove_follows", None), ("tie_weights", None)):  # fmt: skip
            columns[name].extend([value] * count)
        columns["index"].extend(index for index, _ in specs)
        columns["agent_id"].extend(spec.agent_id for _, spec in specs)
        for name in ("name", "persona", "community", "traits", "interests", "activity", "activity_hours", "model"):
            columns[name].extend(getattr(spec, name) for _, spec in specs)
        columns["attributes"].extend(_json(spec.attributes) for _, spec in specs)

    def agent_event(self, event: Any, partition: int, offset: int) -> None:
        """An agent's update or deletion (creations: :meth:`created`)."""
        if isinstance(event, AgentUpdated):
            self.add(
                "agent_events", event.event_id, partition, offset, 0, event.agent_id, "updated", event.name,
                event.persona, event.community, event.traits, event.interests, event.activity, event.activity_hours,
                event.model, _json(event.attributes), event.add_friends, event.remove_friends, event.add_follows,
                event.remove_follows, _json(event.tie_weights),
            )  # fmt: skip
        elif isinstance(event, AgentDeleted):
            self.add(
                "agent_events", event.event_id, partition, offset, 0, event.agent_id, "deleted",
                *([None] * 14),
            )  # fmt: skip

    def broadcast(self, event: Broadcast, partition: int, offset: int) -> None:
        self.add(
            "broadcast_events", event.event_id, partition, offset, event.author, event.community, event.content,
            event.created_at,
        )  # fmt: skip

    def run_event(self, event: RunStarted | RoundStarted | RoundCompleted | RunEnded | InterventionApplied) -> None:
        if isinstance(event, InterventionApplied):
            self.add(
                "interventions", event.step, event.round, event.phase, event.kind, event.target,
                orjson.dumps(event.detail, option=orjson.OPT_SORT_KEYS).decode(), event.asked, event.answered,
                event.malformed, event.dead_lettered, event.cost_usd, event.created_at,
            )  # fmt: skip
            post = event.detail.get("post")
            if event.kind == "post" and isinstance(post, dict) and event.target is not None:
                # Injected at round R before its acts: a post of round R - 1, shown from round R.
                made = event.round - 1 if event.phase == "before" else event.round
                author, text = post.get("agent"), post.get("text")
                self.add("posts", event.target, made, author, text, event.created_at, "post", None)
        elif isinstance(event, RoundStarted):
            self.add("round_starts", event.round, event.acting, event.agents_ends, event.created_at)
        elif isinstance(event, RoundCompleted):
            a = event.actions
            self.add(
                "rounds", event.round, event.requested, event.answered, event.dead_lettered,
                *(a.get(action, 0) for action in ACTIONS), event.malformed_actions,
                event.conversation_turns, event.new_friendships, event.cost_usd, event.wall_s,
                event.feed_bytes_per_act, orjson.dumps(event.dead_letter_reasons).decode(),
                orjson.dumps(event.calls_by_model).decode(), orjson.dumps(event.cost_by_model).decode(),
                event.created_at,
            )  # fmt: skip
        fields = event.model_dump(mode="json", exclude={"event_id", "created_at", "request_id", "schema_version"})
        self.add("run", event.event_id, event.type, orjson.dumps(fields).decode(), event.created_at)


def _json(attributes: dict[str, Any] | None) -> str | None:
    return orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS).decode() if attributes else None


def study_tables(raw: dict[str, pa.Table]) -> dict[str, pa.Table]:
    """The study's tables from the (deduplicated) raw ones: vectorized, but for agents that changed."""
    rounds = _round_of(raw.get("round_starts"))
    events = raw.get("agent_events", _empty("agent_events"))
    events = events.append_column("round", rounds.assign(events))
    broadcasts = raw.get("broadcast_events", _empty("broadcast_events"))
    study = {name: raw[name] if name in raw else _empty(name) for name in STUDY if name in RAW}
    study["agents"] = _agents(events)
    study["friendships"], study["follows"] = _ties(events)
    study["broadcasts"] = pa.table(
        {
            "broadcast_id": broadcasts["broadcast_id"],
            "round": rounds.assign(broadcasts),
            "author": broadcasts["author"],
            "community": broadcasts["community"],
            "text": broadcasts["text"],
            "created_at": broadcasts["created_at"],
        }
    )
    study["posts"], study["cascades"] = _posts_and_cascades(study["posts"], study["actions"], study["broadcasts"])
    study["engagements"] = _engagements(study["actions"], study["posts"], study["broadcasts"])
    study["exposures"] = _exposure_kinds(study)
    study["rounds"] = _rounds_with_starts(study["rounds"], raw.get("round_starts"))
    return {name: study[name] for name in STUDY}


def _empty(name: str) -> pa.Table:
    return pa.table({field.name: pa.array([], field.type) for field in RAW[name]})


class _RoundStarts:
    """Where the agents topic ended at each round's start, per partition: an event read before round r's
    end offsets was published before round r began, i.e. during round r - 1 (round 0: before the run)."""

    def __init__(self, ends_by_round: dict[int, list[int]]):
        self.by_partition: dict[int, list[int]] = defaultdict(list)
        for _, ends in sorted(ends_by_round.items()):
            for partition, end in enumerate(ends):
                self.by_partition[partition].append(end)

    def assign(self, table: pa.Table) -> pa.Array:
        """The round during which each row's agent event (``partition``, ``offset``) was published."""
        partitions = table["partition"].to_numpy()
        offsets = table["offset"].to_numpy()
        found = numpy.zeros(len(offsets), dtype=numpy.int32)
        for partition, ends in self.by_partition.items():
            mine = partitions == partition
            found[mine] = numpy.searchsorted(numpy.asarray(ends), offsets[mine], side="right")
        return pa.array(found, pa.int32())


def _round_of(starts: pa.Table | None) -> _RoundStarts:
    if starts is None:
        return _RoundStarts({})
    return _RoundStarts(dict(zip(starts["round"].to_pylist(), starts["agents_ends"].to_pylist(), strict=True)))


_PROFILE = ("name", "persona", "community", "traits", "interests", "activity", "activity_hours", "model", "attributes")
_AGENT_TYPES = {
    "from_round": pa.int32(), "traits": _TEXTS, "interests": _TEXTS, "deleted": pa.bool_(),
    "activity": pa.float64(), "activity_hours": pa.list_(pa.float64()),
}  # fmt: skip


def _agents(events: pa.Table) -> pa.Table:
    """Each agent's profile from the round it holds: a row when it was created, and one more for each round
    before which it changed (name, persona, community, traits, interests, activity, model, attributes, or its
    deletion). Agents created once and never changed (nearly all) are taken as they are; the others folded."""
    change = events["change"]
    changed_profile = pc.and_(pc.equal(change, "updated"), _any_valid(events, _PROFILE))
    touched = pc.or_(changed_profile, pc.equal(change, "deleted"))
    created = events.filter(pc.equal(change, "created"))
    counts = created.group_by("agent_id").aggregate([("agent_id", "count")])
    twice = counts.filter(pc.greater(counts["agent_id_count"], 1))["agent_id"]
    folded_agents = pa.concat_arrays([_array(pc.unique(events.filter(touched)["agent_id"])), _array(twice)])
    folded = pc.is_in(events["agent_id"], value_set=folded_agents)
    simple = created.filter(pc.invert(pc.is_in(created["agent_id"], value_set=folded_agents)))
    plain = pa.table(
        {
            "agent_id": simple["agent_id"],
            "from_round": pc.add(simple["round"], 1).cast(pa.int32()),
            **{name: simple[name] for name in _PROFILE},
            "deleted": pa.array([False] * simple.num_rows, pa.bool_()),
        }
    )
    return pa.concat_tables([plain, _fold(events.filter(folded))]).sort_by([("agent_id", "ascending"),
                                                                             ("from_round", "ascending")])  # fmt: skip


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return (values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values).cast(pa.string())


def _any_valid(table: pa.Table, names: Iterable[str]) -> pa.ChunkedArray:
    found = None
    for name in names:
        valid = pc.is_valid(table[name])
        found = valid if found is None else pc.or_(found, valid)
    assert found is not None
    return found


def _fold(events: pa.Table) -> pa.Table:
    """The agents whose profile changed, folded event by event in the order they were applied."""
    columns = {name: events[name].to_pylist() for name in ("agent_id", "change", "round", "offset", "index")}
    values = {name: events[name].to_pylist() for name in _PROFILE}
    order = sorted(
        range(events.num_rows),
        key=lambda i: (columns["agent_id"][i], columns["round"][i], columns["offset"][i], columns["index"][i]),
    )
    out: dict[str, list[Any]] = {"agent_id": [], "from_round": [], **{name: [] for name in _PROFILE}, "deleted": []}
    state: dict[str, Any] | None = None
    current: str | None = None
    for i in order:
        agent, change = columns["agent_id"][i], columns["change"][i]
        if agent != current:
            current, state = agent, None
        if change == "created":
            state = {name: values[name][i] for name in _PROFILE}
        elif state is None:
            continue  # an update or deletion of an agent this record never saw created
        elif change == "updated":
            changed = {name: values[name][i] for name in _PROFILE if values[name][i] is not None}
            if not changed or all(state[name] == value for name, value in changed.items()):
                continue  # friends only, or nothing new
            state = {**state, **changed}
        from_round = columns["round"][i] + 1  # in effect from the round after the one it was published in
        deleted = change == "deleted"
        if out["agent_id"] and out["agent_id"][-1] == agent and out["from_round"][-1] == from_round:
            for name in _PROFILE:
                out[name][-1] = state[name]
            out["deleted"][-1] = deleted
            continue
        out["agent_id"].append(agent)
        out["from_round"].append(from_round)
        for name in _PROFILE:
            out[name].append(state[name])
        out["deleted"].append(deleted)
    return pa.table({name: pa.array(column, _AGENT_TYPES.get(name, pa.string())) for name, column in out.items()})


def _ties(events: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Each pair of friends once (``agent_a`` < ``agent_b``), and each follow (``follower`` reads ``followed``),
    with the round it was made in (0: before the run, as imported) and its weight, where an import gave one; a
    follow undone, with the round it was (``removed_round``; followed again: the new follow's round, not removed)."""
    changed = pc.or_(pc.is_valid(events["add_friends"]), pc.is_valid(events["add_follows"]))
    added = events.filter(pc.or_(changed, pc.is_valid(events["remove_follows"])))
    added = added.sort_by([("partition", "ascending"), ("offset", "ascending")])  # an agent's, in its order
    friends: dict[tuple[str, str], tuple[int, float | None]] = {}
    follows: dict[tuple[str, str], tuple[int, float | None]] = {}
    removed: dict[tuple[str, str], int] = {}
    names = ("agent_id", "add_friends", "add_follows", "remove_follows", "tie_weights", "round")
    columns = (added[name].to_pylist() for name in names)
    for agent, befriended, followed, unfollowed, weights_json, round_ in zip(*columns, strict=True):
        weights = orjson.loads(weights_json) if weights_json else {}
        for friend in befriended or ():
            pair = (min(agent, friend), max(agent, friend))
            made, weight = friends.get(pair, (round_, None))
            friends[pair] = (min(made, round_), weights.get(friend, weight))
        for other in followed or ():
            if removed.pop((agent, other), None) is not None:
                follows[(agent, other)] = (round_, weights.get(other))  # followed again
                continue
            made, weight = follows.get((agent, other), (round_, None))
            follows[(agent, other)] = (min(made, round_), weights.get(other, weight))
        for other in unfollowed or ():
            if (agent, other) in follows:
                removed[(agent, other)] = round_
    ties = _tie_table(follows, ("follower", "followed"))
    pairs = sorted(follows)
    return _tie_table(friends, ("agent_a", "agent_b")), ties.append_column(
        "removed_round", pa.array([removed.get(pair) for pair in pairs], pa.int32())
    )


def _tie_table(ties: dict[tuple[str, str], tuple[int, float | None]], ends: tuple[str, str]) -> pa.Table:
    pairs = sorted(ties)
    return pa.table(
        {
            ends[0]: pa.array([a for a, _ in pairs], pa.string()),
            ends[1]: pa.array([b for _, b in pairs], pa.string()),
            "round": pa.array([ties[pair][0] for pair in pairs], pa.int32()),
            "weight": pa.array([ties[pair][1] for pair in pairs], pa.float64()),
        }
    )


def _posts_and_cascades(posts: pa.Table, actions: pa.Table, broadcasts: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Each post with its chain (origin, depth) and what it drew (counted as the workers count: a like, dislike or
    repost once per agent, each quote and comment); and a cascade per origin that was reposted, quoted or
    commented on: its size (posts answering into it), depth, and rounds.

    A repost's text is the text of the post it shares. A chain's origin may be a broadcast (not a post row).
    """
    columns = posts.to_pydict()
    ids, parents, kinds = columns["post_id"], columns["parent_id"], columns["kind"]
    row = {post: index for index, post in enumerate(ids)}
    order = sorted(range(len(ids)), key=lambda index: (columns["round"][index] or 0, columns["created_at"][index]))
    origin: dict[str, str] = {}
    depth: dict[str, int] = {}
    texts = list(columns["text"])
    for index in order:  # parents come from earlier rounds: walked in round order, each is known before its children
        post, parent = ids[index], parents[index]
        if parent is None:
            origin[post], depth[post] = post, 0
            continue
        origin[post], depth[post] = origin.get(parent, parent), depth.get(parent, 0) + 1
        if kinds[index] == "repost" and parent in row:
            texts[index] = texts[row[parent]]
    drew = _drawn(actions)
    counted = {name: [drew[name].get(post, 0) for post in ids] for name in drew}
    table = pa.table(
        {
            **{name: columns[name] for name in ("post_id", "round", "agent_id")},
            "text": pa.array(texts, pa.string()),
            "created_at": pa.array(columns["created_at"], pa.float64()),
            "kind": pa.array(kinds, pa.string()),
            "parent_id": pa.array(parents, pa.string()),
            "origin_id": pa.array([origin[post] for post in ids], pa.string()),
            "depth": pa.array([depth[post] for post in ids], pa.int32()),
            **{name: pa.array(counted[name], pa.int32()) for name in counted},
        }
    )
    return table, _cascades(ids, columns["round"], origin, depth, posts, broadcasts)


def _engagements(actions: pa.Table, posts: pa.Table, broadcasts: pa.Table) -> pa.Table:
    """Each like, dislike, repost, quote and comment as an edge: who, to whose post (the author), in which round."""
    made = actions.filter(pc.and_(pc.is_in(actions["action"], value_set=pa.array(ENGAGEMENTS)),
                                  pc.invert(actions["malformed"])))  # fmt: skip
    authors = dict(zip(posts["post_id"].to_pylist(), posts["agent_id"].to_pylist(), strict=True))
    authors.update(zip(broadcasts["broadcast_id"].to_pylist(), broadcasts["author"].to_pylist(), strict=True))
    targets = made["target"].to_pylist()
    return pa.table(
        {
            "round": made["round"],
            "agent_id": made["agent_id"],
            "action": made["action"],
            "post_id": made["target"],
            "author": pa.array([authors.get(target) for target in targets], pa.string()),
            "act_event_id": made["event_id"],
        }
    )


def _drawn(actions: pa.Table) -> dict[str, dict[str, int]]:
    """What each post drew, from the run's acts, counted once where the workers count once."""
    drew: dict[str, dict[str, int]] = {f"{kind}s": defaultdict(int) for kind in ENGAGEMENTS}
    once: set[tuple[str, str, str]] = set()
    columns = actions.select(["action", "target", "agent_id", "malformed"]).to_pydict()
    for action, target, agent, malformed in zip(*columns.values(), strict=True):
        if malformed or action not in ENGAGEMENTS or target is None:
            continue
        if action in ("like", "dislike", "repost"):
            if (action, agent, target) in once:
                continue
            once.add((action, agent, target))
        drew[f"{action}s"][target] += 1
    return drew


def _cascades(
    ids: list[str],
    rounds: list[int | None],
    origin: dict[str, str],
    depth: dict[str, int],
    posts: pa.Table,
    broadcasts: pa.Table,
) -> pa.Table:
    """A row per chain with answers: its origin, the origin's author and round, size, depth, rounds spanned."""
    authors = dict(zip(ids, posts["agent_id"].to_pylist(), strict=True))
    made = dict(zip(ids, rounds, strict=True))
    for broadcast, author, round_ in zip(*broadcasts.select(["broadcast_id", "author", "round"]).to_pydict().values(),
                                         strict=True):  # fmt: skip
        authors.setdefault(broadcast, author)
        made.setdefault(broadcast, round_)
    chains: dict[str, list[str]] = defaultdict(list)
    for post in ids:
        if origin[post] != post:
            chains[origin[post]].append(post)
    rows = sorted(chains.items(), key=lambda chain: (-len(chain[1]), chain[0]))
    spans = [[made.get(post) for post in [start, *answers] if made.get(post) is not None] for start, answers in rows]
    return pa.table(
        {
            "origin_id": pa.array([start for start, _ in rows], pa.string()),
            "author": pa.array([authors.get(start) for start, _ in rows], pa.string()),
            "origin_round": pa.array([made.get(start) for start, _ in rows], pa.int32()),
            "size": pa.array([len(answers) for _, answers in rows], pa.int32()),
            "depth": pa.array([max(depth[post] for post in answers) for _, answers in rows], pa.int32()),
            "first_round": pa.array([min(span) if span else None for span in spans], pa.int32()),
            "last_round": pa.array([max(span) if span else None for span in spans], pa.int32()),
        }
    )


def _exposure_kinds(study: dict[str, pa.Table]) -> pa.Table:
    """Each exposure with what its item is: a post, a message or a broadcast (``unknown``: none of the run's)."""
    items = study["exposures"]["item_id"]
    kind = pa.array(["unknown"] * len(items), pa.string())
    sources = (("broadcasts", "broadcast_id", "broadcast"), ("messages", "message_id", "message"))
    for table, column, name in (*sources, ("posts", "post_id", "post")):
        kind = pc.if_else(pc.is_in(items, value_set=_array(study[table][column])), name, kind)
    return study["exposures"].append_column("kind", kind)


def _rounds_with_starts(rounds: pa.Table, starts: pa.Table | None) -> pa.Table:
    """The round summaries with each round's acting agents and start time."""
    by_round = {}
    if starts is not None:
        by_round = dict(zip(starts["round"].to_pylist(), zip(starts["acting"].to_pylist(),
                                                                 starts["started_at"].to_pylist(), strict=True),
                            strict=True))  # fmt: skip
    numbers = rounds["round"].to_pylist()
    acting = [by_round.get(n, (None, None))[0] for n in numbers]
    started = [by_round.get(n, (None, None))[1] for n in numbers]
    return rounds.append_column("acting", pa.array(acting, pa.int32())).append_column(
        "started_at", pa.array(started, pa.float64())
    )
