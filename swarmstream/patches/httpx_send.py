"""httpx2's client with ``send`` going straight to its transport (a private attribute: httpx2 2.16 was read).

``send`` otherwise runs auth flows, redirect handling, cookie extraction and logging layers, none of
which chat-completion calls use (the openai package sets every header itself), for about a tenth of
a call's CPU. A redirect therefore comes back as the package's status error.
"""

from __future__ import annotations

from typing import Any

import httpx2
from openai import DefaultAsyncHttpxClient


class DirectHttpClient(DefaultAsyncHttpxClient):
    """The openai package's default httpx2 client (same arguments), sending each request as it is."""

    async def send(self, request: httpx2.Request, **kwargs: Any) -> httpx2.Response:
        response = await self._transport.handle_async_request(request)
        response.request = request
        return response
