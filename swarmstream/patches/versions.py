"""The versions of the packages whose internals :mod:`swarmstream.patches` corrects, and the check at start."""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import PackageNotFoundError, version

log = logging.getLogger(__name__)

# What every correction here was written and tested against (pyproject.toml pins the same).
TESTED = {
    "aiokafka": "0.14.0",
    "faust-streaming": "0.15.3",
    "httpx2": "2.16.2",
    "mode-streaming": "0.7.1",
    "openai": "3.57.0",
}

ALLOW_ENV = "SWARMSTREAM_ALLOW_UNTESTED_VERSIONS"


class UntestedVersions(RuntimeError):
    """Installed packages other than the ones the corrections were written for."""


@cache
def untested() -> dict[str, str]:
    """The packages of :data:`TESTED` installed at another version: name -> installed version."""
    found = {}
    for name, tested in TESTED.items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            installed = "none"
        if installed != tested:
            found[name] = installed
    return found


def check(allow_untested: bool) -> None:
    """Refuse other versions than :data:`TESTED`, or only warn when ``allow_untested``.

    :param allow_untested: the ``SWARMSTREAM_ALLOW_UNTESTED_VERSIONS`` setting.
    """
    found = untested()
    if not found:
        return
    installed = ", ".join(f"{name} {found[name]}" for name in sorted(found))
    tested = ", ".join(f"{name}=={TESTED[name]}" for name in sorted(TESTED))
    message = (
        f"installed: {installed}. swarmstream corrects internals of these packages (swarmstream/patches) and was "
        f"tested with {tested}: install those (pip install -e . does), or set {ALLOW_ENV}=1 to run anyway, "
        "knowing that a correction may no longer fit (commits past unprocessed events, lost requests)"
    )
    if not allow_untested:
        raise UntestedVersions(message)
    log.warning("running on untested versions: %s", message)
