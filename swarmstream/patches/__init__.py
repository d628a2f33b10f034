"""Every correction of a third-party package's internals, fenced here and pinned to :data:`versions.TESTED`.

- :mod:`.aiokafka_leave_group`: a consumer stopped in its group's generation 0 leaves the group.
- :mod:`.faust_commits`: faust never commits past an event not yet processed, does not count an offset
  jump as done, rewinds never-committed partitions, reads the real high-watermark in recovery and keeps
  queued events on resume (the README's "How it stays at least once").
- :mod:`.faust_speed`: faust's consumer runs a record's callback inline when it finishes at once.
- :mod:`.faust_access`: the private state of faust's objects the worker reads, and the producer's sends
  it counts.
- :mod:`.openai_request`: chat requests built from parts the openai package built once.

:func:`install` checks the versions, then applies the corrections; a test fails when an upstream
release no longer shows a defect corrected here, and another when a module outside this package
touches a private name of these packages (``tests/swarmstream/patches``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from swarmstream.patches import versions

if TYPE_CHECKING:  # faust is imported when the corrections are installed, not before
    from swarmstream.patches.faust_commits import Highwaters


def install(read_highwaters: Highwaters, allow_untested: bool = False) -> None:
    """Check the installed versions, then apply every correction (idempotent, process-wide).

    :param read_highwaters: reads partitions' real high-watermarks, for faust's recovery
        (:func:`swarmstream.transport.install_patches` gives the broker's).
    :param allow_untested: run on other versions than the tested ones, with a warning
        (``SWARMSTREAM_ALLOW_UNTESTED_VERSIONS``).
    :raises versions.UntestedVersions: on other versions than the tested ones, unless allowed.
    """
    versions.check(allow_untested)
    from swarmstream.patches import aiokafka_leave_group, faust_commits, faust_speed

    aiokafka_leave_group.install()
    faust_commits.install(read_highwaters)
    faust_speed.install()
