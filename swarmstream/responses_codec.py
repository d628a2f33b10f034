"""Decoding ``interaction.responded`` records fast: a msgspec mirror of :class:`InteractionResponded`.

The consumers that read every response (the graph) decode millions of them; pydantic's validation
is most of that cost. :class:`RespondedRecord` declares the same fields, types, bounds and defaults,
and msgspec checks them while it decodes. A record it refuses goes to :func:`swarmstream.codec.decode`,
so whatever pydantic accepts (lax conversions such as ``"60"`` for an int) is still accepted, and what
it refuses raises the same :class:`~swarmstream.codec.DecodeError`. A test keeps the two in step.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import msgspec

from swarmstream import codec
from swarmstream.action_space import ActionName
from swarmstream.events import InteractionResponded, new_id

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Count = Annotated[int, msgspec.Meta(ge=0)]
_Positive = Annotated[int, msgspec.Meta(ge=1)]


class RespondedRecord(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True, gc=False):
    """The fields of :class:`InteractionResponded`, as read from a record (attribute for attribute).

    Untracked by the garbage collector (``gc=False``): it holds strings, numbers and lists of strings,
    which cannot lead back to it, and a batch of 20,000 would otherwise be scanned by every collection.
    """

    event_id: _Id = msgspec.field(default_factory=new_id)
    # The codec refuses a record that does not say its version and type (the defaults of the event's
    # model serve those who build one): the version is checked after decoding, the type is required.
    schema_version: int | None = None
    created_at: float = msgspec.field(default_factory=time.time)
    request_id: _Id = msgspec.field(default_factory=new_id)
    type: Literal["interaction.responded"]
    agent_id: _Id
    target_agent_id: _Id | None = None
    kind: str = "chat"
    content: str
    model: str
    prompt_tokens: _Count
    completion_tokens: _Count
    cached_tokens: _Count = 0
    llm_latency_ms: Annotated[float, msgspec.Meta(ge=0)]
    llm_inflight: _Count
    llm_attempts: _Positive = 1
    request_created_at: float
    decision: Literal["accept", "decline"] | None = None
    decision_malformed: bool = False
    conversation_id: str | None = None
    turn: _Positive = 1
    max_turns: _Positive = 1
    run_id: str | None = None
    round: int | None = None
    action: ActionName | None = None
    action_malformed: bool = False
    action_target: str | None = None
    action_text: str = ""
    started: list[str] = []
    feed: list[str] = []
    read_from: list[str] = []
    feed_bytes: _Count = 0
    prompt_chars: _Count = 0
    prompt: list[dict[str, str]] | None = None
    question_id: str | None = None
    question: str | None = None
    phase: Literal["before", "after"] | None = None
    answer: str | None = None
    answer_value: int | None = None
    answer_malformed: bool = False
    endpoint: str = ""


_decoder = msgspec.msgpack.Decoder(RespondedRecord)
# What :func:`decode_responded` gives: the same attributes either way.
Responded = RespondedRecord | InteractionResponded


def decode_responded(data: bytes | None) -> Responded:
    """One response record; :class:`~swarmstream.codec.DecodeError` when it is not a valid one.

    :param data: the record's value.
    """
    return codec.decode_mirrored(_decoder, data, InteractionResponded)
