"""Conversations: each answered turn leads to the next, the listener speaking back, up to ``max_turns``."""

from __future__ import annotations

import time

from swarmstream.events import ConversationLine, InteractionRequested, derived_id


def next_turn(request: InteractionRequested, reply: str, history_turns: int, chars: int) -> InteractionRequested | None:
    """The request for the turn after ``request`` was answered with ``reply``; None after the last turn.

    Its ids derive from the turn before, so a turn answered again after a crash leads to the same
    next turn (a duplicate the worker skips), never to a second, forked conversation. It carries the
    last ``history_turns`` lines, each cut at ``chars``, as its prompt's context.
    """
    conversation = request.conversation
    if conversation is None or request.turn >= request.max_turns or request.target_agent_id is None:
        return None
    said = ConversationLine(agent_id=request.agent_id, content=reply[:chars])
    return InteractionRequested(
        event_id=derived_id("turn", request.event_id),
        request_id=derived_id("turn", request.request_id),
        created_at=time.time(),
        agent_id=request.target_agent_id,
        target_agent_id=request.agent_id,
        kind="chat",
        context=request.context,
        conversation_id=conversation,
        turn=request.turn + 1,
        max_turns=request.max_turns,
        history=[*request.history, said][-history_turns:],
        run_id=request.run_id,
        round=request.round,
        record_prompt=request.record_prompt,
        sample_seed=request.sample_seed,
        show_attributes=request.show_attributes,
        model_mix=request.model_mix,
        llm_batch=request.llm_batch,
    )
