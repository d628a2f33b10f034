"""The simulator's Files and Batch APIs, as OpenAI serves them: ``POST /v1/files`` (purpose ``batch``, a JSONL file
of requests), ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``, and
``GET /v1/files/{id}/content``, ``DELETE /v1/files/{id}``.

A batch is ``validating``, then ``in_progress`` for ``delay_s``, then its lines are answered as online calls
would be (the same answers, usage and cached tokens; no latency, and not charged to the online RPM/TPM limits,
as a provider's batch queue is not) and it is ``completed`` with an output file (one line per answered
request, in no particular order) and an error file (its failed lines: invalid ones, and ``line_error_rate`` of
the others, drawn by the seed and the line's ``custom_id``). Files are spooled to a temporary folder a line at a
time, never whole in memory (kept there, a million-agent round with a tenth of its agents acting held 782 MB),
removed when deleted or when the server stops; batches' descriptions are kept in memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import orjson
from aiohttp import BodyPartReader, web

from swarmstream.llm.batch import MAX_LINES
from swarmstream.llm.simulator import BatchConfig, Simulator, error_response, prompt_tokens_of, request_error

MAX_FILE_BYTES = 200 * 1024 * 1024  # OpenAI's: a batch input file's size
_ANSWER_CHUNK = 500  # lines answered between yields to the event loop


class BatchServer:
    """Files and batches of one simulator; answers through its ``Simulator.completion``."""

    def __init__(self, sim: Simulator, config: BatchConfig):
        self.sim = sim
        self.config = config
        self._folder = tempfile.TemporaryDirectory(prefix="swarmstream-sim-batches-")
        self.folder = Path(self._folder.name)
        self.files: dict[str, dict[str, Any]] = {}  # each file's description; its bytes are at path(file_id)
        self._made = 0
        self._tag = secrets.token_hex(3)  # ids unique across simulators, as a provider's are
        self.batches: dict[str, dict[str, Any]] = {}
        self.lines_answered = 0
        self.lines_failed = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{file_id}", self.file)
        app.router.add_get("/v1/files/{file_id}/content", self.content)
        app.router.add_delete("/v1/files/{file_id}", self.delete)
        app.router.add_post("/v1/batches", self.create)
        app.router.add_get("/v1/batches/{batch_id}", self.retrieve)
        app.router.add_post("/v1/batches/{batch_id}/cancel", self.cancel)

    def path(self, file_id: str) -> Path:
        return self.folder / file_id

    def close(self) -> None:
        """Batches still running stopped and every file removed (the server stops)."""
        for task in self._tasks:
            task.cancel()
        self._folder.cleanup()

    async def upload(self, request: web.Request) -> web.Response:
        """A multipart upload (``purpose``, ``file``), written to the folder as it arrives."""
        reader = await request.multipart()
        purpose: str | None = None
        file_id, filename, size = self._new_id(), "batch.jsonl", 0
        try:
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "purpose":
                    purpose = await part.text()
                elif part.name == "file":
                    filename = part.filename or filename
                    with self.path(file_id).open("wb") as out:
                        while chunk := await part.read_chunk():
                            size += len(chunk)
                            if size > MAX_FILE_BYTES:
                                return error_response(400, f"the file is above the limit of {MAX_FILE_BYTES:,} bytes")
                            out.write(chunk)
            if purpose != "batch":
                return error_response(400, f"purpose must be 'batch', not {purpose!r}")
            if not self.path(file_id).exists():
                return error_response(400, "a multipart 'file' field is required")
            return web.json_response(self._describe(file_id, size, filename, "batch"))
        finally:
            if file_id not in self.files:
                self.path(file_id).unlink(missing_ok=True)

    def _new_id(self) -> str:
        self._made += 1
        return f"file-sim{self._tag}{self._made:06d}"

    def _describe(self, file_id: str, size: int, filename: str, purpose: str) -> dict[str, Any]:
        described = {
            "id": file_id, "object": "file", "bytes": size, "created_at": int(time.time()),
            "filename": filename, "purpose": purpose, "status": "processed",
        }  # fmt: skip
        self.files[file_id] = described
        return described

    async def file(self, request: web.Request) -> web.StreamResponse:
        found = self.files.get(request.match_info["file_id"])
        if found is None:
            return error_response(404, f"No such File object: {request.match_info['file_id']}")
        return web.json_response(found)

    async def content(self, request: web.Request) -> web.StreamResponse:
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            return error_response(404, f"No such File object: {file_id}")
        return web.FileResponse(self.path(file_id), headers={"Content-Type": "application/octet-stream"})

    async def delete(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if self.files.pop(file_id, None) is None:
            return error_response(404, f"No such File object: {file_id}")
        self.path(file_id).unlink(missing_ok=True)  # a batch still reading it keeps its open handle
        return web.json_response({"id": file_id, "object": "file", "deleted": True})

    async def create(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "request body is not JSON")
        input_file_id = str(body.get("input_file_id"))
        if input_file_id not in self.files:
            return error_response(400, f"No such File object: {body.get('input_file_id')}")
        if body.get("endpoint") != "/v1/chat/completions":
            return error_response(400, f"endpoint must be /v1/chat/completions, not {body.get('endpoint')!r}")
        if body.get("completion_window") != "24h":
            return error_response(400, "completion_window must be '24h'")
        lines = await asyncio.to_thread(_count_lines, self.path(input_file_id))
        if lines > MAX_LINES:
            return error_response(400, f"the file has {lines:,} requests, above the limit of {MAX_LINES:,} a batch")
        batch_id = f"batch_sim{self._tag}{len(self.batches) + 1:06d}"
        batch = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
            "input_file_id": body["input_file_id"], "completion_window": "24h", "status": "validating",
            "output_file_id": None, "error_file_id": None, "created_at": int(time.time()), "in_progress_at": None,
            "expires_at": int(time.time()) + 86_400, "finalizing_at": None, "completed_at": None,
            "failed_at": None, "expired_at": None, "cancelling_at": None, "cancelled_at": None,
            "request_counts": {"total": lines, "completed": 0, "failed": 0},
            "metadata": body.get("metadata"),
        }  # fmt: skip
        self.batches[batch_id] = batch
        task = asyncio.create_task(self._run(batch, self.path(input_file_id).open("rb")))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return web.json_response(batch)

    async def retrieve(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return error_response(404, f"No such Batch object: {request.match_info['batch_id']}")
        return web.json_response(batch)

    async def cancel(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return error_response(404, f"No such Batch object: {request.match_info['batch_id']}")
        if batch["status"] in ("validating", "in_progress"):
            batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
        return web.json_response(batch)

    async def _run(self, batch: dict[str, Any], lines: IO[bytes]) -> None:
        """Answers the input's lines one by one into the output and error files (the input read as it goes)."""
        with lines:
            await asyncio.sleep(0)
            batch["status"], batch["in_progress_at"] = "in_progress", int(time.time())
            await asyncio.sleep(self.config.delay_s)
            ids = {ok: self._new_id() for ok in (True, False)}  # the output file, the error file
            written = {True: 0, False: 0}
            with self.path(ids[True]).open("wb") as answered, self.path(ids[False]).open("wb") as failed:
                for index, line in enumerate(lines):
                    if batch["status"] == "cancelling":
                        break
                    result, ok = self._answer(line.rstrip(b"\r\n"), index)
                    (answered if ok else failed).write(orjson.dumps(result) + b"\n")
                    written[ok] += 1
                    batch["request_counts"]["completed" if ok else "failed"] += 1
                    if index % _ANSWER_CHUNK == _ANSWER_CHUNK - 1:
                        await asyncio.sleep(0)
        self.lines_answered += written[True]
        self.lines_failed += written[False]
        batch["status"], batch["finalizing_at"] = "finalizing", int(time.time())
        for field, ok, suffix in (("output_file_id", True, "output"), ("error_file_id", False, "error")):
            if written[ok]:
                size = self.path(ids[ok]).stat().st_size
                batch[field] = self._describe(ids[ok], size, f"{batch['id']}_{suffix}.jsonl", "batch_output")["id"]
            else:
                self.path(ids[ok]).unlink()
        if batch["status"] == "cancelling":
            batch["status"], batch["cancelled_at"] = "cancelled", int(time.time())
        else:
            batch["status"], batch["completed_at"] = "completed", int(time.time())

    def _answer(self, line: bytes, index: int) -> tuple[dict[str, Any], bool]:
        """One input line's output line, and whether it was answered (else it belongs in the error file)."""
        line_id = f"batch_req_sim{index:06d}"
        try:
            request = orjson.loads(line)
            custom_id, body = str(request["custom_id"]), request["body"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            error = {"code": "invalid_json_line", "message": f"line {index + 1} is not a batch request"}
            return {"id": line_id, "custom_id": None, "response": None, "error": error}, False
        refused = request_error(body)
        if request.get("method") != "POST" or request.get("url") != "/v1/chat/completions":
            refused = "each line is a POST to /v1/chat/completions"
        if refused is not None:
            return _failed(line_id, custom_id, 400, refused, "invalid_request_error"), False
        draw = hashlib.blake2b(f"{self.sim.config.seed}/{custom_id}".encode(), digest_size=8).digest()
        if int.from_bytes(draw, "big") / 2**64 < self.config.line_error_rate:
            return _failed(line_id, custom_id, 500, "injected batch line error", "server_error"), False
        payload = self.sim.completion(body, prompt_tokens_of(body))
        response = {"status_code": 200, "request_id": f"req_sim{index:06d}", "body": payload}
        return {"id": line_id, "custom_id": custom_id, "response": response, "error": None}, True

    def stats(self) -> dict[str, Any]:
        statuses: dict[str, int] = {}
        for batch in self.batches.values():
            statuses[batch["status"]] = statuses.get(batch["status"], 0) + 1
        return {"batches": len(self.batches), "by_status": statuses, "lines_answered": self.lines_answered,
                "lines_failed": self.lines_failed, "files": len(self.files),
                "file_bytes": sum(f["bytes"] for f in self.files.values())}  # fmt: skip


def _count_lines(path: Path) -> int:
    with path.open("rb") as lines:
        return sum(1 for _ in lines)


def _failed(line_id: str, custom_id: str, status: int, message: str, kind: str) -> dict[str, Any]:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    response = {"status_code": status, "request_id": f"req_{line_id}", "body": body}
    return {"id": line_id, "custom_id": custom_id, "response": response, "error": None}
