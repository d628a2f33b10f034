"""A correction of aiokafka's group coordinator, for brokers that number generations from 0.

aiokafka sends LeaveGroup on stop only when ``generation > 0``. Kafka numbers a group's generations
from 1, Tansu 0.6.0 (the embedded broker) from 0: a consumer stopped in its group's first generation
left no word, and stayed a member until its session timed out. The next one to join waited for it,
had its sync refused when the old member expired, and joined again. The Java client's test is whether the member has an
id; so is this one's. ``tests/swarmstream/patches/test_aiokafka_leave_group.py`` tells when upstream
changed.
"""

from __future__ import annotations

import logging

import aiokafka.errors as errors
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest

log = logging.getLogger(__name__)

# aiokafka's own, kept for the test that tells whether upstream still needs the correction.
ORIGINAL_MAYBE_LEAVE_GROUP = GroupCoordinator._maybe_leave_group


async def _maybe_leave_group(self: GroupCoordinator) -> None:
    # As aiokafka's, but for any member that has an id (static members, with an instance id, never leave).
    if self.member_id != JoinGroupRequest.UNKNOWN_MEMBER_ID and self._group_instance_id is None:
        try:
            await self._send_req(LeaveGroupRequest(self.group_id, self.member_id))
        except errors.KafkaError as err:
            log.error("LeaveGroup request failed: %s", err)
        else:
            log.info("LeaveGroup request succeeded")
    self.reset_generation()


def install() -> None:
    """Correct the group coordinator (idempotent)."""
    GroupCoordinator._maybe_leave_group = _maybe_leave_group  # type: ignore[method-assign]
