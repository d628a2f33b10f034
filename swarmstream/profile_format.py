"""The profiles changelog's values: an agent's profile packed as a msgpack array.

The wire contract of the profiles table's changelog (``settings.profiles_changelog_topic``, declared
in :mod:`swarmstream.topics`), as :mod:`swarmstream.events` is of the other topics: the worker writes
it, and whoever reads the changelog (registration waits, the API) reads it with :func:`unpack`. The
record's key is the agent id, which is not stored again. An array, not a map: field names repeated a
million times would be a fifth of the table. Sequences unpack as tuples.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack

Profile = dict[str, Any]

# Position in the packed array; the first element is the layout's version. Layout 2 added the inbox,
# layout 3 what an imported agent may say of itself, the rounds recent friends were made in, and whom it follows,
# layout 4 whom it muted and what its feeds showed lately: older profiles read with the defaults. Memory entries
# are (request id, line[, round]), inbox entries (message id, from, text, kind[, round]), friend rounds (friend,
# round); ``seen`` is bytes, 4 per post (the start of its id's digest: ``seen_mark``).
_LAYOUT = 4
_FIELDS = (
    "name", "persona", "traits", "interests", "community", "friends", "memory", "inbox",
    "activity", "activity_hours", "model", "attributes", "friend_rounds", "follows", "muted", "seen",
)  # fmt: skip
_FIELDS_OF_LAYOUT = {1: _FIELDS[:7], 2: _FIELDS[:8], 3: _FIELDS[:14], 4: _FIELDS}
_DEFAULTS = {
    "inbox": (), "activity": None, "activity_hours": None, "model": None, "attributes": {}, "friend_rounds": (),
    "follows": (), "muted": (), "seen": b"",
}  # fmt: skip


def pack(profile: Profile) -> bytes:
    return msgpack.packb([_LAYOUT, *(profile[field] for field in _FIELDS)], use_bin_type=True)


def unpack(agent_id: str, data: bytes) -> Profile:
    values = msgpack.unpackb(data, raw=False, use_list=False)
    fields = _FIELDS_OF_LAYOUT.get(values[0])
    if fields is None:
        raise ValueError(f"profile of {agent_id!r} has layout {values[0]!r}; this build reads 1 to {_LAYOUT}")
    profile = {**_DEFAULTS, **dict(zip(fields, values[1:], strict=True))}
    profile["agent_id"] = agent_id
    return profile


def seen_mark(post_id: str) -> bytes:
    """What ``seen`` keeps of a post: 4 bytes of its id (hex ids: their first 8 digits), 1 in 4 billion alike."""
    return id_bytes(post_id, 4)


def id_bytes(value: str, size: int) -> bytes:
    """``size`` bytes that stand for an id: a hex id's first ``2 * size`` digits, else a digest of it."""
    try:
        return bytes.fromhex(value[: 2 * size])
    except ValueError:
        return hashlib.blake2b(value.encode(), digest_size=size).digest()
