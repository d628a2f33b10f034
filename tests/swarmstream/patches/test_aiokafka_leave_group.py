"""The LeaveGroup correction: a consumer stopped in its group's first generation leaves the group."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest

from swarmstream.patches import aiokafka_leave_group
from swarmstream.transport import describe_group, ensure_topics, make_consumer


def coordinator(generation: int, member_id: str) -> SimpleNamespace:
    sent: list[object] = []

    async def send_req(request: object) -> None:
        sent.append(request)

    def reset_generation() -> None:
        fake.generation, fake.member_id = -1, JoinGroupRequest.UNKNOWN_MEMBER_ID

    fake = SimpleNamespace(
        generation=generation,
        member_id=member_id,
        group_id="g",
        _group_instance_id=None,
        _send_req=send_req,
        reset_generation=reset_generation,
        sent=sent,
    )
    return fake


async def test_upstream_still_skips_the_leave_in_generation_0():
    """When this fails, aiokafka leaves from generation 0 itself: drop swarmstream/patches/aiokafka_leave_group.py."""
    fake = coordinator(generation=0, member_id="member-1")
    await aiokafka_leave_group.ORIGINAL_MAYBE_LEAVE_GROUP(fake)
    assert fake.sent == []


@pytest.mark.parametrize("generation", [0, 1, 7])
async def test_a_member_with_an_id_leaves_whatever_its_generation(generation):
    fake = coordinator(generation=generation, member_id="member-1")
    await aiokafka_leave_group._maybe_leave_group(fake)
    (request,) = fake.sent
    assert isinstance(request, LeaveGroupRequest)
    assert fake.member_id == JoinGroupRequest.UNKNOWN_MEMBER_ID


async def test_no_leave_without_a_member_id_or_for_a_static_member():
    fake = coordinator(generation=-1, member_id=JoinGroupRequest.UNKNOWN_MEMBER_ID)
    await aiokafka_leave_group._maybe_leave_group(fake)
    static = coordinator(generation=3, member_id="member-1")
    static._group_instance_id = "worker-0"
    await aiokafka_leave_group._maybe_leave_group(static)
    assert fake.sent == [] and static.sent == []


@pytest.mark.integration
async def test_a_consumer_stopped_in_the_first_generation_leaves_no_member(settings):
    """On the embedded broker, whose first generation is 0: the group is empty once the consumer stops."""
    await ensure_topics(settings)
    group = f"{settings.app_id}-leave"
    consumer = make_consumer(settings, settings.requests_topic, group_id=group)
    await consumer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        generation = consumer._coordinator.generation
    finally:
        await consumer.stop()
    assert generation == 0
    assert (await describe_group(settings, group)).members == []
