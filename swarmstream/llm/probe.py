"""One call to each configured endpoint before work starts: a wrong URL, key or model said at once, in a line.

Without it a run whose endpoint is unreachable, or refuses its key, dead-letters every request and ends as
if it had worked. The probe is a real chat completion of one token (``GET /models`` does not tell whether
a model is served on every OpenAI-compatible server); a 429 or a 5xx says the endpoint is there, and only
warns: the engine retries those, and a round whose requests keep failing stops the run anyway. An endpoint
asked for structured outputs is sent an act's schema or tools too: a server that refuses them is said at
once, not as every act dead-lettered.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

import openai

from swarmstream.action_space import act_format
from swarmstream.llm.client import LLMClient
from swarmstream.llm.retry import BadResponseError
from swarmstream.settings import LLMEndpoint, Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 8.0
PROBE_MESSAGES = [{"role": "user", "content": "Reply with OK."}]
# Enough for a short act: some servers refuse a structured answer they cannot finish.
STRUCTURED_PROBE_TOKENS = 64


class EndpointUnavailable(RuntimeError):
    """An endpoint cannot serve the run: its message has one line per such endpoint, naming it and the cause."""


async def probe_endpoints(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Call every configured endpoint (each of the pool, and each fallback) once, at the same time.

    :raises EndpointUnavailable: when any cannot serve (unreachable, unknown host, key refused, model
        not found, not a chat-completions server, no answer within ``timeout_s``).
    """
    endpoints = settings.all_llm_endpoints()
    model = settings.default_model()
    problems = await asyncio.gather(*(_probe(endpoint, timeout_s, model) for endpoint in endpoints))
    failing = [problem for problem in problems if problem is not None]
    if failing:
        raise EndpointUnavailable("\n".join(failing))


async def _probe(endpoint: LLMEndpoint, timeout_s: float, model: str) -> str | None:
    """None when ``endpoint`` answers (or is only busy), else one line saying why it cannot serve."""
    where = f"LLM endpoint {endpoint.base_url} (model {endpoint.model})"
    client = LLMClient(endpoint, timeout_s=timeout_s, max_connections=1)
    try:
        async with asyncio.timeout(timeout_s):
            await client.call(PROBE_MESSAGES, max_tokens=1, model=model)
    except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
        return f"{where}: the API key was refused ({exc.status_code}): set SWARMSTREAM_LLM_API_KEY; {_said(exc)}"
    except openai.NotFoundError as exc:
        return f"{where}: not found (404): the model is not served there, or the base URL lacks /v1; {_said(exc)}"
    except (openai.RateLimitError, openai.InternalServerError) as exc:
        log.warning("%s answered %s to the probe: going on (the engine retries)", where, exc.status_code)
        return None
    except openai.APIStatusError as exc:
        return f"{where}: answered {exc.status_code}; {_said(exc)}"
    except (openai.APITimeoutError, TimeoutError):
        return f"{where}: no answer within {timeout_s:.0f} s"
    except openai.APIConnectionError as exc:
        return f"{where}: cannot connect ({_connection_cause(exc)})"
    except BadResponseError as exc:
        return f"{where}: answered something that is not a chat completion ({exc})"
    else:
        if client.structured_outputs != "none":
            return await _probe_structured(client, where, timeout_s, model)
    finally:
        await client.close()
    return None


async def _probe_structured(client: LLMClient, where: str, timeout_s: float, model: str) -> str | None:
    """None when the endpoint takes an act's schema or tools as its ``structured_outputs`` says; else why not."""
    mode = client.structured_outputs
    try:
        async with asyncio.timeout(timeout_s):
            await client.call(PROBE_MESSAGES, max_tokens=STRUCTURED_PROBE_TOKENS, shape=act_format(), model=model)
    except openai.BadRequestError as exc:
        return (
            f"{where}: refused structured outputs in mode {mode!r} (400); {_said(exc)}; set "
            "SWARMSTREAM_LLM_STRUCTURED_OUTPUTS (or the endpoint's structured_outputs) to another mode, or none"
        )
    except (openai.APIError, TimeoutError, BadResponseError) as exc:
        log.warning("%s: the probe of structured outputs (%s) failed (%r): going on", where, mode, exc)
    return None


def _said(exc: openai.APIStatusError) -> str:
    """What the server said, in a few words."""
    return f"it said: {str(exc.message)[:200]}"


def _connection_cause(exc: BaseException) -> str:
    """The cause under the package's connection error: refused, name not resolved, or its own words."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, socket.gaierror):
            return f"name not resolved: {cause.strerror or cause}"
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return str(exc.__cause__ or exc)
