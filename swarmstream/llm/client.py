"""One chat-completions call to one endpoint, through the openai package.

The call uses the package's documented low-level ``client.post(..., cast_to=httpx2.Response)``
and decodes the body with orjson: ``chat.completions.create()`` spends about twice the CPU per
call on request transforms and response models, and a worker's CPU goes almost entirely here.
HTTP errors still come back as the package's typed exceptions (``RateLimitError``, ...).

An act's or a survey's call carries its format (``swarmstream.action_space``) as the endpoint's ``structured_outputs``
says: a JSON schema, tools, or nothing. A tool call comes back as the act's JSON, ``{"action": <the
function's name>, <its arguments>}``, so that one parser reads the answers of every mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import orjson

from swarmstream.action_space import AnswerFormat, StructuredOutputs
from swarmstream.llm.http_transport import KeepAliveTransport
from swarmstream.llm.retry import BadResponseError
from swarmstream.patches.httpx_send import DirectHttpClient
from swarmstream.patches.openai_request import ChatOpenAI
from swarmstream.settings import ANY_MODEL, LLMEndpoint

# Headers the package adds for its own telemetry: building them is a measurable share of a call.
_OMITTED_HEADERS = {"x-stainless-retry-count": openai.Omit(), "x-stainless-read-timeout": openai.Omit()}


@dataclass(frozen=True, slots=True)
class Completion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    inflight_at_start: int = 0
    attempts: int = 1
    endpoint: str = ""
    cached_tokens: int = 0  # of the prompt tokens, those the provider read from its prompt cache


@dataclass(frozen=True, slots=True)
class RawCompletion:
    """A decoded 2xx answer and the response headers (rate-limit state lives there)."""

    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    headers: httpx2.Headers
    cached_tokens: int = 0


class LLMClient:
    """An ``AsyncOpenAI`` client (:class:`ChatOpenAI`) for one endpoint; retries are the engine's job."""

    def __init__(self, endpoint: LLMEndpoint, *, timeout_s: float, max_connections: int):
        self.endpoint = endpoint
        self.name = f"{endpoint.model}@{endpoint.base_url}"
        api_key = endpoint.api_key.get_secret_value() if endpoint.api_key else "unused"
        self._client = ChatOpenAI(
            base_url=endpoint.base_url,
            api_key=api_key,
            timeout=timeout_s,
            max_retries=0,
            http_client=DirectHttpClient(transport=KeepAliveTransport(max_connections)),
        )
        self._options: Any = {"headers": _OMITTED_HEADERS}
        self.structured_outputs: StructuredOutputs = endpoint.structured_outputs or "none"

    async def call(
        self, messages: list[dict[str, str]], max_tokens: int, shape: AnswerFormat | None = None, model: str = ""
    ) -> RawCompletion:
        """One attempt; raises the openai package's errors or :class:`BadResponseError`.

        :param shape: an act's or a survey's format: the request holds its schema or tools, by ``structured_outputs``.
        :param model: the model the call asks for: sent where the endpoint serves any (its model is ``*``).
        """
        sent = model if self.endpoint.model == ANY_MODEL and model else self.endpoint.model
        body = {"model": sent, "messages": messages, "max_tokens": max_tokens}
        if shape is not None:
            body.update(shape.body(self.structured_outputs))
        response = await self._client.post(
            "/chat/completions",
            body=body,
            options=self._options,
            cast_to=httpx2.Response,
        )
        return decode_completion(response.content, response.headers)

    async def close(self) -> None:
        await self._client.close()


def decode_completion(body: bytes, headers: httpx2.Headers) -> RawCompletion:
    """The fields we use from a chat-completion body, checked; anything else is a bad response."""
    try:
        data = orjson.loads(body)
        content = content_of(data["choices"][0]["message"])
        usage = data.get("usage") or {}
        prompt_tokens = int(usage.get("prompt_tokens") or 0)
        completion_tokens = int(usage.get("completion_tokens") or 0)
        cached_tokens = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        model = str(data.get("model") or "")
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise BadResponseError(f"not a chat completion: {exc!r}; body starts {body[:200]!r}") from exc
    if not isinstance(content, str):
        raise BadResponseError(f"choices[0].message.content is {type(content).__name__}, not text")
    return RawCompletion(content, model, prompt_tokens, completion_tokens, headers, cached_tokens)


def content_of(message: dict[str, Any]) -> str | None:
    """A completion message's answer as text: its content, its first tool call as the act's JSON, or a refusal."""
    if message.get("tool_calls"):
        return _tool_call_as_act(message["tool_calls"][0])
    content = message.get("content")
    if content is None and isinstance(message.get("refusal"), str):
        return message["refusal"]  # a structured-output refusal: words, read as no valid action
    return content


def _tool_call_as_act(call: dict[str, Any]) -> str:
    """A tool call as the act's JSON; arguments that are not a JSON object are kept as words (malformed)."""
    function = call["function"]
    name, arguments = str(function["name"]), function.get("arguments") or "{}"
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        return f"{name}({arguments})"
    return orjson.dumps({**parsed, "action": name}).decode()


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int) -> int:
    """What a provider charges against TPM before the call: prompt estimate plus ``max_tokens``.

    About four characters per token for English text, plus per-message overhead; the response's
    ``usage`` corrects the estimate afterwards.
    """
    return sum(len(m.get("content") or "") for m in messages) // 4 + 4 * len(messages) + max_tokens
