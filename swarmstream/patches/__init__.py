"""Every correction of a third-party package's internals, fenced here and pinned to :data:`versions.TESTED`.

- :mod:`.aiokafka_leave_group`: a consumer stopped in its group's generation 0 leaves the group.
- :mod:`.faust_commits`: faust never commits past an event not yet processed, does not count an offset
  jump as done, rewinds never-committed partitions (and spares them faust's livelock check while they wait
  for their position), reads the real high-watermark in recovery and keeps queued events on resume
  (the README's "How it stays at least once").
- :mod:`.faust_speed`: faust's consumer runs a record's callback inline when it finishes at once.
- :mod:`.faust_access`: the private state of faust's objects the worker reads, and the producer's sends
  it counts.
- :mod:`.openai_request`: chat requests built from parts the openai package built once.
- :mod:`.httpx_send`: httpx2's client sends a request straight to its transport.
- :mod:`.mode_signals`: the stream worker's SIGTERM/SIGINT run its own callback, then mode's stop.

:func:`install` checks the versions, then applies the corrections; a test fails when an upstream
release no longer shows a defect corrected here, and another when a module outside this package
touches a private name of these packages (``tests/swarmstream/patches``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from swarmstream.patches import versions

if TYPE_CHECKING:  # faust is imported when the corrections are installed, not before
    from swarmstream.patches.faust_commits import Highwaters


def install(allow_untested: bool = False, read_highwaters: Highwaters | None = None) -> None:
    """Check the installed versions, then apply the corrections (idempotent, process-wide).

    :param allow_untested: run on other versions than the tested ones, with a warning
        (``SWARMSTREAM_ALLOW_UNTESTED_VERSIONS``).
    :param read_highwaters: given where faust runs (the stream worker): faust's and mode's corrections
        too, with this reader of partitions' real high-watermarks for faust's recovery
        (:func:`swarmstream.transport.install_patches` gives the broker's). Without it, aiokafka's
        alone: a plain consumer process (graph, metrics, the API) never imports faust.
    :raises versions.UntestedVersions: on other versions than the tested ones, unless allowed.
    """
    versions.check(allow_untested)
    from swarmstream.patches import aiokafka_leave_group

    aiokafka_leave_group.install()
    if read_highwaters is None:
        return
    from swarmstream.patches import faust_commits, faust_speed

    faust_commits.install(read_highwaters)
    faust_speed.install()
