"""The openai package's client, with each chat call's HTTP request built from parts the package built once.

``AsyncOpenAI._build_request`` (a private method: openai 3.57 was read) merges the default, auth and
custom headers, parses the URL three times (once itself, twice in httpx2) and serializes the body with
the standard json encoder on every call, although for one endpoint only the body ever changes.
``ChatOpenAI`` lets the package build the first request of each shape itself and keeps its URL, headers
and timeouts; later requests of that shape get a new body only. Anything else (files, query parameters,
other options, a body that is not plain JSON or holds NaN) goes through the package unchanged.
``tests/swarmstream/patches/test_openai_request.py`` compares both builds request by request, so a package
that changes what it sends fails there.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import httpx2
import orjson
from openai import AsyncOpenAI
from openai._models import FinalRequestOptions

_Parts = tuple[httpx2.URL, list[tuple[str, str]], dict[str, Any]]

# orjson writes datetimes, dataclasses and subclasses its own way: left to the package's encoder.
_ORJSON_ONLY_JSON = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS

# Shapes kept per client: a caller varying a header per call (a trace id) gets the package's build past this.
MAX_SHAPES = 64


class ChatOpenAI(AsyncOpenAI):
    """``AsyncOpenAI`` (same arguments) whose plain JSON posts reuse the first one's URL and headers."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shapes: dict[Hashable, _Parts] = {}

    @property
    def user_agent(self) -> str:
        # The package names its class here; providers see the package's own client.
        return f"{AsyncOpenAI.__name__}/Python {self._version}"

    def _build_request(self, options: FinalRequestOptions, *, retries_taken: int = 0) -> httpx2.Request:
        # A client sending an idempotency key sends a new one per call: not a fixed header.
        shape = _shape(options, retries_taken) if not self._idempotency_header else None
        parts = self._shapes.get(shape) if shape is not None else None
        if parts is not None:
            try:
                content = orjson.dumps(options.json_data, option=_ORJSON_ONLY_JSON)
                # orjson writes NaN and infinity as null where the package's encoder refuses them; a body
                # without any null cannot hold one, so most bodies skip the walk.
                if b"null" in content and not _finite(options.json_data):
                    raise TypeError("NaN or infinity")
            except TypeError:  # not plain JSON (a datetime, a model, a date): the package's encoder decides
                parts = None
        if parts is None:
            request = super()._build_request(options, retries_taken=retries_taken)
            if shape is not None and len(self._shapes) < MAX_SHAPES:
                headers = [(k, v) for k, v in request.headers.multi_items() if k != "content-length"]
                self._shapes[shape] = (request.url, headers, request.extensions)
            return request
        url, headers, extensions = parts
        # httpx2 adds the content-length of the new body.
        return httpx2.Request("POST", url, headers=headers, content=content, extensions=dict(extensions))


def _finite(value: object) -> bool:
    """No float in ``value`` is NaN or infinite (strings, the bulk of a chat body, are not looked into)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(item) for item in value)
    return True


def _shape(options: FinalRequestOptions, retries_taken: int) -> Hashable | None:
    """What, besides the body, decides a request: None for one this client does not build itself."""
    if (
        options.method != "post"
        or not isinstance(options.json_data, dict)
        or options.params
        or options.files is not None
        or options.content is not None
        or options.extra_json is not None
    ):
        return None
    headers = options.headers
    try:
        # Values are strings or the package's Omit markers (hashed by identity: the caller's constants).
        return options.url, retries_taken, repr(options.timeout), tuple(headers.items()) if headers else ()
    except TypeError:  # an unhashable header value
        return None
