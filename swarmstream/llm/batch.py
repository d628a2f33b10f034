"""The OpenAI Batch API through the openai package: a file of requests up, a batch made of it, polled, its results
read back as the engine's completions (``simulate --llm-batch``).

A batch holds at most :data:`MAX_LINES` requests and :data:`MAX_BYTES` of them (OpenAI's limits); :func:`chunks`
splits a wave into batches that fit. A result line answered 200 becomes a :class:`RawCompletion` as an online
call's answer would; any other line (a refused or failed request, or one the batch never reached: expired,
cancelled) is an error of the kind an online call's would be.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import openai
import orjson

from swarmstream.llm.client import decode_completion
from swarmstream.llm.retry import BadResponseError
from swarmstream.settings import LLMEndpoint

MAX_LINES = 50_000
MAX_BYTES = 190 * 1024 * 1024  # under OpenAI's 200 MB a file, with room for the lines' framing
DONE = frozenset({"completed", "failed", "expired", "cancelled"})
_NO_HEADERS = httpx2.Headers()


@dataclass(frozen=True)
class LineResult:
    """One request's result: its ``custom_id`` and either its answer or the kind and words of its failure."""

    custom_id: str
    completion: Any = None  # a RawCompletion
    error: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class BatchState:
    batch_id: str
    status: str
    total: int
    completed: int
    failed: int
    output_file_id: str | None
    error_file_id: str | None
    errors: str = ""
    input_file_id: str | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE


class BatchClient:
    """One endpoint's Files and Batches APIs (the openai package's own client: retries of its own, 3)."""

    def __init__(self, endpoint: LLMEndpoint, timeout_s: float = 120.0):
        self.endpoint = endpoint
        self.name = f"{endpoint.model}@{endpoint.base_url}"
        key = endpoint.api_key.get_secret_value() if endpoint.api_key else "unused"
        self._client = openai.AsyncOpenAI(base_url=endpoint.base_url, api_key=key, timeout=timeout_s, max_retries=3)

    async def submit(self, path: Path, metadata: dict[str, str]) -> str:
        """The requests in JSONL file ``path`` as a new batch; its id."""
        uploaded = await self._client.files.create(file=path, purpose="batch")
        batch = await self._client.batches.create(
            input_file_id=uploaded.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata=metadata,
        )
        return batch.id

    async def state(self, batch_id: str) -> BatchState:
        batch = await self._client.batches.retrieve(batch_id)
        counts = batch.request_counts
        errors = "; ".join(f"{e.code}: {e.message}" for e in (batch.errors.data or [])) if batch.errors else ""
        return BatchState(
            batch.id, batch.status, counts.total if counts else 0, counts.completed if counts else 0,
            counts.failed if counts else 0, batch.output_file_id, batch.error_file_id, errors, batch.input_file_id,
        )  # fmt: skip

    async def results(self, state: BatchState) -> AsyncIterator[LineResult]:
        """Every line of a finished batch's output and error files."""
        for file_id in (state.output_file_id, state.error_file_id):
            if file_id is None:
                continue
            content = await self._client.files.content(file_id)
            for line in content.content.splitlines():
                if line.strip():
                    yield read_line(line)

    async def delete_files(self, state: BatchState) -> int:
        """A finished batch's input, output and error files deleted at the endpoint (one already gone is no
        error); how many were deleted."""
        deleted = 0
        for file_id in (state.input_file_id, state.output_file_id, state.error_file_id):
            if file_id is None:
                continue
            try:
                await self._client.files.delete(file_id)
                deleted += 1
            except openai.NotFoundError:
                pass
        return deleted

    async def close(self) -> None:
        await self._client.close()


def read_line(line: bytes) -> LineResult:
    """A result file's line as the request's answer or its failure."""
    try:
        result = orjson.loads(line)
        custom_id = str(result.get("custom_id"))
    except (orjson.JSONDecodeError, AttributeError):
        return LineResult("", error="bad_response", detail=f"a result line that is not JSON: {line[:200]!r}")
    response, error = result.get("response"), result.get("error")
    if isinstance(response, dict) and response.get("status_code") == 200:
        try:
            return LineResult(custom_id, decode_completion(orjson.dumps(response.get("body")), _NO_HEADERS))
        except BadResponseError as exc:
            return LineResult(custom_id, error="bad_response", detail=str(exc))
    if isinstance(response, dict) and response.get("status_code"):
        status = int(response["status_code"])
        said = ((response.get("body") or {}).get("error") or {}).get("message", "")
        kind = "rate_limited" if status == 429 else "server_error" if status >= 500 else f"http_{status}"
        return LineResult(custom_id, error=kind, detail=str(said)[:500])
    code = str((error or {}).get("code") or "failed")
    kind = code if code.startswith("batch_") else f"batch_{code}"
    return LineResult(custom_id, error=kind[:64], detail=str((error or {}).get("message", ""))[:500])


def prompt_hash(body: dict[str, Any]) -> str:
    """What identifies a prompt and its answer's format (a batch line's body but for the model)."""
    unmodelled = {name: value for name, value in body.items() if name != "model"}
    return hashlib.blake2b(orjson.dumps(unmodelled, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def request_line(custom_id: str, body: dict[str, Any]) -> bytes:
    """One line of a batch's input file: a chat completion request."""
    return orjson.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body})


def chunks(lines: Iterable[bytes]) -> Iterator[list[bytes]]:
    """``lines`` in groups that each fit one batch (:data:`MAX_LINES` lines, :data:`MAX_BYTES` bytes)."""
    group: list[bytes] = []
    size = 0
    for line in lines:
        if group and (len(group) == MAX_LINES or size + len(line) + 1 > MAX_BYTES):
            yield group
            group, size = [], 0
        group.append(line)
        size += len(line) + 1
    if group:
        yield group
