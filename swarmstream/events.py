"""The wire contract: every event on every swarmstream topic.

Each event is a msgpack map (see :mod:`swarmstream.codec`) whose ``type`` field names its class.
All events share an envelope: ``event_id`` (unique per event, the idempotency key downstream),
``schema_version``, ``created_at`` (Unix seconds) and ``request_id`` (correlates a request with
its response or dead letter). Every event is keyed by the agent id it concerns.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from swarmstream import action_space
from swarmstream.action_space import ActionName
from swarmstream.model_mix import ModelMix

SCHEMA_VERSION = 1

AgentId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Text = Annotated[str, StringConstraints(max_length=32_768)]
Chance = Annotated[float, Field(ge=0, le=1)]
Attribute = Annotated[str, StringConstraints(max_length=4_096)] | int | float | bool | None


def new_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """Envelope fields shared by all events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(default_factory=new_id, min_length=1, max_length=128)
    schema_version: int = SCHEMA_VERSION
    created_at: float = Field(default_factory=time.time)
    request_id: str = Field(default_factory=new_id, min_length=1, max_length=128)

    @property
    def key(self) -> bytes:
        """The Kafka record key: the agent id this event concerns."""
        return self.agent_id.encode()  # type: ignore[attr-defined]

    @property
    def size(self) -> int:
        """How many changes this event carries: 1, or the agents of a bulk creation."""
        return 1


class AgentSpec(BaseModel):
    """Who an agent is: the fields its creation sets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: AgentId
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    persona: Text = ""
    traits: list[str] = Field(default_factory=list, max_length=64)
    interests: list[str] = Field(default_factory=list, max_length=64)
    community: str | None = None
    # How likely it acts in a society's round (None: the run's --active), or by the hour of the day
    # (24 chances, with a run's --hours-per-round); the model its calls ask for (None: the endpoint's);
    # whatever else an imported population said of it, kept as its attributes.
    activity: Chance | None = None
    activity_hours: list[Chance] | None = Field(None, min_length=24, max_length=24)
    model: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    attributes: dict[str, Attribute] = Field(default_factory=dict, max_length=256)


class AgentCreated(Event, AgentSpec):
    """A new agent joins the society (topic ``{prefix}.agents``)."""

    type: Literal["agent.created"] = "agent.created"


class AgentsCreated(Event):
    """Many agents of one partition join at once (topic ``{prefix}.agents``).

    Bulk creation: one record instead of one per agent saves the per-record cost of Kafka and
    faust on both sides. Every agent must hash to the partition the record is written to (its
    key is the first agent's id); the registry dead-letters those that do not.
    """

    type: Literal["agents.created"] = "agents.created"
    agents: list[AgentSpec] = Field(min_length=1, max_length=10_000)

    @property
    def key(self) -> bytes:
        return self.agents[0].agent_id.encode()

    @property
    def size(self) -> int:
        return len(self.agents)


class AgentUpdated(Event):
    """A partial change to an agent's profile (topic ``{prefix}.agents``); None keeps a field.

    Friends and follows are changed by set operations, so a replayed update changes nothing.
    """

    type: Literal["agent.updated"] = "agent.updated"
    agent_id: AgentId
    name: str | None = None
    persona: Text | None = None
    traits: list[str] | None = None
    interests: list[str] | None = None
    community: str | None = None
    activity: Chance | None = None
    activity_hours: list[Chance] | None = Field(None, min_length=24, max_length=24)
    model: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    # Replace the agent's attributes (None keeps them).
    attributes: dict[str, Attribute] | None = Field(None, max_length=256)
    # The society round whose outcome this change is (friends formed then): seen from the next round on.
    round: int | None = Field(None, ge=1)
    add_friends: list[AgentId] | None = Field(None, max_length=10_000)
    remove_friends: list[AgentId] | None = Field(None, max_length=10_000)
    # The agents it follows (one way: whom it reads; friends are both ways).
    add_follows: list[AgentId] | None = Field(None, max_length=10_000)
    remove_follows: list[AgentId] | None = Field(None, max_length=10_000)
    # Authors whose posts its feed no longer shows (a society's mute action), or shows again.
    add_muted: list[AgentId] | None = Field(None, max_length=10_000)
    remove_muted: list[AgentId] | None = Field(None, max_length=10_000)
    # The weight of a tie this update adds (friend or followed agent -> weight), where an imported graph gave one.
    tie_weights: dict[AgentId, Annotated[float, Field(ge=0)]] | None = Field(None, max_length=10_000)


class AgentDeleted(Event):
    """The agent leaves the society; its profile is removed (topic ``{prefix}.agents``)."""

    type: Literal["agent.deleted"] = "agent.deleted"
    agent_id: AgentId


# What an acting agent may do in a society's round (``InteractionResponded.action``): ``swarmstream.action_space``.
ACTIONS = action_space.ALL

# The most turns one conversation may have.
MAX_TURNS = 50


class ConversationLine(BaseModel):
    """One turn said in a conversation: who said it, and what."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: AgentId
    content: Text


class SurveyForm(BaseModel):
    """What a survey question takes as an answer: a whole number on a ``scale`` (both ends included), or one of
    ``choices``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: tuple[int, int] | None = None
    choices: tuple[Annotated[str, StringConstraints(min_length=1, max_length=200)], ...] | None = Field(
        None, min_length=2, max_length=20
    )

    @model_validator(mode="after")
    def _one_kind(self) -> SurveyForm:
        if (self.scale is None) == (self.choices is None):
            raise ValueError("a survey takes a scale (e.g. 1-5) or choices (e.g. a,b,c), one of the two")
        if self.scale is not None and not self.scale[0] < self.scale[1] <= self.scale[0] + 100:
            raise ValueError(f"a scale runs from a lower to a higher whole number, 101 at most: not {self.scale}")
        if self.choices is not None and len(set(self.choices)) != len(self.choices):
            raise ValueError("a survey's choices must differ from each other")
        return self

    @property
    def options(self) -> list[int] | list[str]:
        """Every answer it takes, in order."""
        if self.scale is not None:
            return list(range(self.scale[0], self.scale[1] + 1))
        return list(self.choices or ())


# Questions put to agents (``InteractionRequested.kind``): an interview's answer is words, a survey's one option.
ASKED = ("interview", "survey")


class BatchAnswer(BaseModel):
    """An answer the Batch API gave a request's prompt (``simulate --llm-batch``): what an online call returns, or
    the error of its line; ``prompt_hash``: the prompt it answered (the worker answers only the same prompt)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    batch_id: str = Field(min_length=1, max_length=128)
    endpoint: str = Field("", max_length=1_024)
    prompt_hash: str = Field(min_length=1, max_length=64)
    content: Text = ""
    model: str = Field("", max_length=256)
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    cached_tokens: int = Field(0, ge=0)
    # A failed line: its kind (as an online call's: server_error, http_400, bad_response, expired) and words.
    error: str | None = Field(None, max_length=64)
    detail: str = Field("", max_length=2_000)


class InteractionRequested(Event):
    """Ask agent ``agent_id`` to speak, optionally to ``target_agent_id`` (``{prefix}.interactions.requests``).

    A chat with a target and ``max_turns`` above 1 opens a conversation: each answer leads to the next
    turn, the target speaking back, until ``max_turns``. Its ``conversation_id`` is the opening
    request's ``request_id`` unless given; later turns carry the lines so far in ``history``.
    """

    type: Literal["interaction.requested"] = "interaction.requested"
    agent_id: AgentId
    target_agent_id: AgentId | None = None
    # "friend_request": ``agent_id`` decides whether to befriend ``target_agent_id`` (required then).
    # "act": the agent reads its feed and answers with an action (a society's round).
    # "interview", "survey": ``context`` is a question put to the agent, whose prompt holds what its next act
    # would see; its memory and what it saw are left as they are (an interview may ``remember``).
    kind: Literal["chat", "friend_request", "act", "interview", "survey"] = "chat"
    context: Text
    conversation_id: str | None = Field(None, min_length=1, max_length=128)
    turn: int = Field(1, ge=1, le=MAX_TURNS)
    max_turns: int = Field(1, ge=1, le=MAX_TURNS)
    history: list[ConversationLine] = Field(default_factory=list, max_length=MAX_TURNS)
    # A society's run and round this request belongs to (requests it leads to inherit them).
    run_id: str | None = Field(None, min_length=1, max_length=128)
    round: int | None = Field(None, ge=1)
    # The response carries the whole prompt (a run's --record-prompts; requests it leads to inherit it).
    record_prompt: bool = False
    # What the samples a run's request makes derive from (its feed's posts, a post's readers): the run's
    # seed, round and agent, not the run id, so that runs with one seed are alike. None: the request id.
    sample_seed: str | None = Field(None, min_length=1, max_length=128)
    # The agent's attributes (of an imported population) its prompt shows, by name (a run's --show-attributes;
    # requests it leads to inherit them). Empty: none.
    show_attributes: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=64
    )
    # An act's action space (a run's --actions). Empty: every action.
    actions: tuple[str, ...] = Field(default=(), max_length=len(action_space.ALL))
    # How an act's feed ranks its candidate posts (a run's --feed: a recommender's name, or module:attribute)
    # and how many it shows (--feed-size). None: the worker's settings.
    feed: str | None = Field(None, min_length=1, max_length=256)
    feed_size: int | None = Field(None, ge=0, le=100)
    # A question's: the interview or survey it belongs to (its answers share it), a survey's form, whether an
    # interview's answer joins the agent's memory, and when in its round it is asked: "before" the round's acts
    # (the agent as that round begins), or "after" them (as it ends; a broadcast shown in the round still is).
    question_id: str | None = Field(None, min_length=1, max_length=128)
    survey: SurveyForm | None = None
    remember: bool = False
    phase: Literal["before", "after"] | None = None
    # A run's seeded mix of models (--model-mix): the model of a speaker whose profile names none (requests it
    # leads to inherit it). None: the profile's model, else the endpoint pool's default.
    model_mix: ModelMix | None = None
    # A run's --llm-batch (requests it leads to inherit it): the worker builds the prompt and publishes it
    # (PromptPrepared) instead of calling the LLM; the driver sends a wave's prompts as one batch and publishes
    # each request again with its ``answer``, which the worker then takes as the call's.
    llm_batch: bool = False
    answer: BatchAnswer | None = None

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, actions: tuple[str, ...]) -> tuple[str, ...]:
        return action_space.choose(actions) if actions else ()

    @model_validator(mode="after")
    def _friend_request_names_the_requester(self) -> InteractionRequested:
        if self.kind == "friend_request" and not self.target_agent_id:
            raise ValueError("a friend_request needs target_agent_id (the agent asking)")
        # An act's max_turns bounds the conversation its message (if it sends one) opens.
        if self.max_turns > 1 and self.kind != "act" and (self.kind != "chat" or not self.target_agent_id):
            raise ValueError("a conversation (max_turns above 1) is a chat with a target_agent_id")
        if self.turn > self.max_turns:
            raise ValueError(f"turn {self.turn} is past max_turns {self.max_turns}")
        if self.turn > 1 and not self.conversation_id:
            raise ValueError("a later turn of a conversation needs its conversation_id")
        if self.kind == "survey" and self.survey is None:
            raise ValueError("a survey needs its form (survey: a scale or choices)")
        if self.kind in ASKED and not self.context.strip():
            what = "an interview" if self.kind == "interview" else "a survey"
            raise ValueError(f"{what} needs its question (context)")
        return self

    @property
    def conversation(self) -> str | None:
        """The conversation this request is a turn of; None for a lone request (or an act)."""
        if self.kind == "act":
            return None
        return self.conversation_id or (self.request_id if self.max_turns > 1 else None)


class InteractionsRequested(Event):
    """Many interaction requests of one partition at once (topic ``{prefix}.interactions.requests``).

    Bulk requests, as :class:`AgentsCreated` is bulk creation: one record instead of one per request
    saves the per-record cost of Kafka and faust on both sides. Each request keeps its own event id
    and request id and ends as its own response or dead letter. Every speaker must hash to the
    partition the record is written to (its key is the first speaker's id); the worker
    dead-letters those that do not (``wrong_partition``).
    """

    type: Literal["interactions.requested"] = "interactions.requested"
    requests: list[InteractionRequested] = Field(min_length=1, max_length=10_000)

    @property
    def key(self) -> bytes:
        return self.requests[0].key

    @property
    def size(self) -> int:
        return len(self.requests)


class InteractionResponded(Event):
    """The agent's LLM-generated reply (topic ``{prefix}.interactions.responses``)."""

    type: Literal["interaction.responded"] = "interaction.responded"
    agent_id: AgentId
    target_agent_id: AgentId | None = None
    kind: str = "chat"
    content: str
    model: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    # Of the prompt tokens, those the provider served from its prompt cache (priced apart).
    cached_tokens: int = Field(0, ge=0)
    llm_latency_ms: float = Field(ge=0)
    # LLM calls in flight on the answering worker when this one started: feeds "peak concurrent".
    llm_inflight: int = Field(ge=0)
    # Attempts the answer took (retries after 429s, 5xx, timeouts; possibly on a fallback endpoint).
    llm_attempts: int = Field(1, ge=1)
    request_created_at: float
    # Friend requests: the parsed answer, and whether the reply had to be read as a decline.
    decision: Literal["accept", "decline"] | None = None
    decision_malformed: bool = False
    # Conversations: which one, and which of its turns this answer is.
    conversation_id: str | None = None
    turn: int = Field(1, ge=1)
    max_turns: int = Field(1, ge=1)
    # A society's run and round (from the request); an act's action, and whether the reply had to be
    # read as "none"; the requests this answer started (a conversation's next turn, a friend request).
    run_id: str | None = None
    round: int | None = None
    action: ActionName | None = None
    action_malformed: bool = False
    # The action's other agent (a message's listener, whom it befriends) and its text (what it posted or said).
    action_target: str | None = None
    action_text: str = ""
    started: list[str] = Field(default_factory=list)
    # An act's feed: the ids of what it was shown (inbox entries, posts, broadcasts), the agents whose
    # posts it read, and the feed's size in the prompt (UTF-8 bytes).
    feed: list[str] = Field(default_factory=list)
    read_from: list[str] = Field(default_factory=list)
    feed_bytes: int = Field(0, ge=0)
    # The prompt's size (characters of its messages), and the prompt itself when the request asked for it.
    prompt_chars: int = Field(0, ge=0)
    prompt: list[dict[str, str]] | None = None
    # A question's (interview, survey): its id, its words, when it was asked, and a survey's answer as one of
    # its options (as text, and a scale's as a number; None and malformed when the reply named none).
    question_id: str | None = None
    question: str | None = None
    phase: Literal["before", "after"] | None = None
    answer: str | None = None
    answer_value: int | None = None
    answer_malformed: bool = False
    # The endpoint that answered (its model@base_url): the run's record per endpoint.
    endpoint: str = ""


class AgentMessage(BaseModel):
    """Something for an agent's inbox: said to it, or posted by a friend; who, and the message's id."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: AgentId  # the recipient
    message_id: str = Field(min_length=1, max_length=128)
    from_agent_id: AgentId
    content: Text
    kind: Literal["said", "post"] = "said"
    # The society round it was said in: an act of that round does not see it yet.
    round: int | None = Field(None, ge=1)


class AgentsMessaged(Event):
    """Messages for the inboxes of agents of one partition (topic ``{prefix}.agents``).

    Written by the workers, batched per partition: what a speaker said reaches its listener's profile,
    which lives on the listener's partition. Keyed by the first recipient; set by message id, so a
    replay changes nothing.
    """

    type: Literal["agents.messaged"] = "agents.messaged"
    messages: list[AgentMessage] = Field(min_length=1, max_length=10_000)

    @property
    def key(self) -> bytes:
        return self.messages[0].agent_id.encode()

    @property
    def size(self) -> int:
        return len(self.messages)


# Who a broadcast is from when its publisher names no one.
BROADCAST_AUTHOR = "moderator"


class FeedPost(BaseModel):
    """A post on a feed board: an agent's post to its community, or a broadcast (to everyone or one community)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    post_id: str = Field(min_length=1, max_length=128)
    from_agent_id: AgentId  # the author: an agent, or whoever published a broadcast
    content: Text
    # A repost, quote or comment answers another post (``parent_id``); a cascade is what shares one origin.
    kind: Literal["post", "broadcast", "repost", "quote", "comment"] = "post"
    # The community whose members read it; None: every agent.
    community: str | None = Field(None, min_length=1, max_length=256)
    created_at: float = Field(default_factory=time.time)
    # The society round it was posted in: an act of that round does not see it yet (0: before round 1, a
    # plan's post injected at round 1).
    round: int | None = Field(None, ge=0)
    # For a repost, quote or comment: the post it answers, the first post of its chain, and its depth there
    # (the origin's children are at depth 1).
    parent_id: str | None = Field(None, min_length=1, max_length=128)
    origin_id: str | None = Field(None, min_length=1, max_length=128)
    depth: int = Field(0, ge=0)
    # A run's broadcast shown for some rounds (a plan's): shown to that run's agents from ``round`` to
    # ``shown_until``, whatever else is broadcast meanwhile, and to nobody else.
    run_id: str | None = Field(None, min_length=1, max_length=128)
    shown_until: int | None = Field(None, ge=1)


class FeedPosted(Event):
    """Posts for the feed board of the partition this record is on (topic ``{prefix}.agents``).

    Written by the workers, one copy per partition, since a community's members (and a broadcast's
    readers) are on every partition. Kept per partition and audience, the latest few; set by post id,
    so a replay changes nothing.
    """

    type: Literal["feed.posted"] = "feed.posted"
    posts: list[FeedPost] = Field(min_length=1, max_length=10_000)

    @property
    def key(self) -> bytes:
        return self.posts[0].post_id.encode()

    @property
    def size(self) -> int:
        return len(self.posts)


ENGAGEMENTS = ("like", "dislike", "repost", "quote", "comment")


class Engagement(BaseModel):
    """An agent's like, dislike, repost, quote or comment of a post, counted on the post once per ``key``.

    ``key`` says what counts once: an agent likes, dislikes or reposts a post once; each quote and comment
    is its own post (its id). Derived, so a replayed act gives the same key.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=128)
    post_id: str = Field(min_length=1, max_length=128)
    agent_id: AgentId
    kind: Literal["like", "dislike", "repost", "quote", "comment"]
    round: int | None = Field(None, ge=1)


class FeedEngaged(Event):
    """Engagements for the posts on the feed board of the partition this record is on (``{prefix}.agents``).

    Like ``feed.posted``: one copy per partition and flush, since every partition keeps a copy of each post.
    Counted once per engagement ``key``, so a replay changes nothing.
    """

    type: Literal["feed.engaged"] = "feed.engaged"
    engagements: list[Engagement] = Field(min_length=1, max_length=10_000)

    @property
    def key(self) -> bytes:
        return self.engagements[0].post_id.encode()

    @property
    def size(self) -> int:
        return len(self.engagements)


class Broadcast(Event):
    """An announcement for every agent's feed, or one community's (topic ``{prefix}.agents``, any key).

    Any client may publish it, on any partition; a worker copies it to every partition's feed board,
    where the next acting agents read it. Its ``event_id`` identifies it: published twice, it is shown once.
    """

    type: Literal["broadcast"] = "broadcast"
    content: Annotated[str, StringConstraints(min_length=1, max_length=2_000)]
    community: str | None = Field(None, min_length=1, max_length=256)
    author: AgentId = BROADCAST_AUTHOR
    # A run's (a plan's step): shown to run ``run_id``'s acts of rounds ``from_round`` to ``until_round`` only,
    # whatever else is broadcast meanwhile. None: shown to every act until newer broadcasts push it off.
    run_id: str | None = Field(None, min_length=1, max_length=128)
    from_round: int | None = Field(None, ge=1)
    until_round: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _window(self) -> Broadcast:
        given = (self.run_id is not None, self.from_round is not None, self.until_round is not None)
        if any(given) and not all(given):
            raise ValueError("a run's broadcast names its run_id, from_round and until_round: all three")
        if self.from_round is not None and self.until_round is not None and self.until_round < self.from_round:
            raise ValueError(f"until_round {self.until_round} comes before from_round {self.from_round}")
        return self

    @property
    def key(self) -> bytes:
        return (self.community or "broadcast").encode()


class Moderation(Event):
    """Posts taken out of every feed and authors hidden from them, from the round it is applied in (topic
    ``{prefix}.agents``; one copy per partition, like ``feed.posted``: kept on the partition it is read on).

    A plan's ``remove_post``, ``mute`` and ``ban`` steps. Set-like: a replay changes nothing.
    """

    type: Literal["moderation"] = "moderation"
    run_id: str | None = Field(None, min_length=1, max_length=128)
    round: int | None = Field(None, ge=1)
    remove_posts: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=10_000
    )
    hide_authors: list[AgentId] = Field(default_factory=list, max_length=10_000)

    @property
    def key(self) -> bytes:
        return b"moderation"


class CommunityDetected(Event):
    """One community found by a detection run, or one part of it (topic ``{prefix}.communities``).

    Keyed by the community's name. A detection publishes all its communities with one
    ``detection_id``; a community of more than 10,000 members comes in ``parts`` events.
    """

    type: Literal["community.detected"] = "community.detected"
    detection_id: str
    community: str = Field(min_length=1, max_length=256)
    members: list[AgentId] = Field(max_length=10_000)
    part: int = Field(ge=1)
    parts: int = Field(ge=1)
    modularity: float

    @property
    def key(self) -> bytes:
        return self.community.encode()


class RunStarted(Event):
    """A society's run begins (topic ``{prefix}.runs``, keyed by ``run_id``): what it will do."""

    type: Literal["run.started"] = "run.started"
    run_id: str = Field(min_length=1, max_length=128)
    agents: int = Field(ge=2)
    rounds: int = Field(ge=1)
    active: float = Field(gt=0, le=1)
    turns: int = Field(ge=1, le=MAX_TURNS)
    seed: int
    budget_usd: float | None = Field(None, gt=0)
    # A round whose dead letters exceed this fraction of its requests ends the run (``failed``).
    max_failure_rate: float = Field(0.5, ge=0, le=1)
    # Responses carry their whole prompts, for the run's record.
    record_prompts: bool = False
    # A round is an hour of the day, (start_hour + round x hours_per_round) mod 24, for activity_hours.
    hours_per_round: float = Field(1.0, gt=0, le=24)
    start_hour: float = Field(0.0, ge=0, lt=24)
    # The imported attributes acting agents' prompts show.
    show_attributes: list[str] = Field(default_factory=list, max_length=64)
    # The run's action space (``swarmstream.action_space``); empty: every action.
    actions: list[str] = Field(default_factory=list, max_length=len(action_space.ALL))
    # Its feeds' recommender and size (None: the workers' settings).
    feed: str | None = None
    feed_size: int | None = Field(None, ge=0, le=100)
    # Its plan (``swarmstream.plan.Plan``, as JSON): what happens at its round boundaries. None: nothing.
    plan: dict | None = None
    # The models its agents ask for where their profiles name none (--model-mix). None: the endpoints' default.
    model_mix: ModelMix | None = None
    # Its waves go through the Batch API (--llm-batch).
    llm_batch: bool = False

    @property
    def key(self) -> bytes:
        return self.run_id.encode()


class InterventionApplied(Event):
    """A step of a run's plan applied at a round boundary (topic ``{prefix}.runs``, keyed by ``run_id``).

    ``step``: its place in the plan (from 0); ``target``: what it made or acted on (a broadcast's or post's id,
    a question's id, an agent); a question's figures: agents asked, answered, malformed answers, dead letters,
    and its cost. A resumed run applies the steps of its boundary not logged so.
    """

    type: Literal["intervention.applied"] = "intervention.applied"
    run_id: str = Field(min_length=1, max_length=128)
    round: int = Field(ge=1)
    phase: Literal["before", "after"]
    step: int = Field(ge=0)
    kind: str = Field(min_length=1, max_length=32)
    detail: dict = Field(default_factory=dict)
    target: str | None = None
    asked: int = Field(0, ge=0)
    answered: int = Field(0, ge=0)
    malformed: int = Field(0, ge=0)
    dead_lettered: int = Field(0, ge=0)
    cost_usd: float = Field(0.0, ge=0)

    @property
    def key(self) -> bytes:
        return self.run_id.encode()


class RoundStarted(Event):
    """A round's requests are about to be published (topic ``{prefix}.runs``)."""

    type: Literal["round.started"] = "round.started"
    run_id: str = Field(min_length=1, max_length=128)
    round: int = Field(ge=1)
    acting: int = Field(ge=0)
    # Where the agents topic ended, by partition, once the workers had read it before the round: an agent
    # event below these offsets was in effect for the round (a run's record dates agent events by them).
    agents_ends: list[int] = Field(default_factory=list)

    @property
    def key(self) -> bytes:
        return self.run_id.encode()


class RoundCompleted(Event):
    """Every request of the round ended, as a response or a dead letter; its figures (topic ``{prefix}.runs``)."""

    type: Literal["round.completed"] = "round.completed"
    run_id: str = Field(min_length=1, max_length=128)
    round: int = Field(ge=1)
    requested: int = Field(ge=0)
    answered: int = Field(ge=0)
    dead_lettered: int = Field(ge=0)
    actions: dict[str, int]
    malformed_actions: int = Field(ge=0)
    conversation_turns: int = Field(ge=0)
    new_friendships: int = Field(ge=0)
    cost_usd: float = Field(ge=0)
    wall_s: float = Field(ge=0)
    # The mean size of an acting agent's feed in its prompt (UTF-8 bytes).
    feed_bytes_per_act: float = Field(0.0, ge=0)
    # The round's dead letters by reason.
    dead_letter_reasons: dict[str, int] = Field(default_factory=dict)
    # Its answered calls and their cost, by the model that answered.
    calls_by_model: dict[str, int] = Field(default_factory=dict)
    cost_by_model: dict[str, float] = Field(default_factory=dict)

    @property
    def key(self) -> bytes:
        return self.run_id.encode()


class RunEnded(Event):
    """The run stopped starting rounds (``reason``): all done, the budget would have been passed, or a round's
    dead letters passed the run's ``max_failure_rate`` (``failed``: that round is run again on resume)."""

    type: Literal["run.ended"] = "run.ended"
    run_id: str = Field(min_length=1, max_length=128)
    reason: Literal["done", "budget", "failed"]
    detail: str = ""

    @property
    def key(self) -> bytes:
        return self.run_id.encode()


class PromptPrepared(Event):
    """A batch-mode request's prompt, built as the worker would send it (topic ``{prefix}.interactions.prompts``,
    keyed by the speaker): the request itself, and the body of its chat completion but for the model."""

    type: Literal["prompt.prepared"] = "prompt.prepared"
    agent_id: AgentId
    run_id: str | None = None
    round: int | None = None
    kind: str = "chat"
    model: str = Field(min_length=1, max_length=256)
    body: dict
    prompt_hash: str = Field(min_length=1, max_length=64)
    request: InteractionRequested


class BatchSubmitted(Event):
    """A wave of a batch-mode round sent through the Batch API (topic ``{prefix}.runs``): a resumed round collects
    it instead of paying twice (which requests it answers, its results say: their ``custom_id``). ``requests``: how
    many."""

    type: Literal["batch.submitted"] = "batch.submitted"
    run_id: str = Field(min_length=1, max_length=128)
    round: int = Field(ge=1)
    wave: int = Field(ge=1)
    batch_id: str = Field(min_length=1, max_length=128)
    endpoint: str = Field(min_length=1, max_length=1_024)
    model: str = Field(min_length=1, max_length=256)
    requests: int = Field(ge=1)

    @property
    def key(self) -> bytes:
        return self.run_id.encode()


class DeadLetter(Event):
    """An event that could not be processed, with a machine-readable reason (``{prefix}.deadletters``)."""

    type: Literal["dead_letter"] = "dead_letter"
    agent_id: str = ""
    reason: str
    detail: str = ""
    source_topic: str
    source_partition: int
    source_offset: int
    source_key: bytes | None = None
    source_value: bytes = b""
    attempts: int = 1


AnyEvent = (
    AgentCreated
    | AgentsCreated
    | AgentUpdated
    | AgentDeleted
    | AgentsMessaged
    | FeedPosted
    | FeedEngaged
    | Broadcast
    | InteractionRequested
    | InteractionsRequested
    | InteractionResponded
    | CommunityDetected
    | RunStarted
    | RoundStarted
    | RoundCompleted
    | RunEnded
    | DeadLetter
)

EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        AgentCreated,
        AgentsCreated,
        AgentUpdated,
        AgentDeleted,
        AgentsMessaged,
        FeedPosted,
        FeedEngaged,
        Broadcast,
        Moderation,
        InteractionRequested,
        InteractionsRequested,
        InteractionResponded,
        PromptPrepared,
        CommunityDetected,
        RunStarted,
        RoundStarted,
        RoundCompleted,
        RunEnded,
        InterventionApplied,
        BatchSubmitted,
        DeadLetter,
    )
}


def post_id(request_id: str) -> str:
    """The id of the post an act's request led to: in its author's friends' inboxes, on the boards, in feeds."""
    return derived_id("post", request_id)


def derived_id(*parts: object) -> str:
    """A stable id from ``parts``: replays of the same input yield the same event id.

    128 bits of BLAKE2b, as 32 hex digits like :func:`new_id`; a quarter of ``uuid5``'s cost, and
    every response takes one.
    """
    return hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=16).hexdigest()
