"""A round's LLM calls through the Batch API (``simulate --llm-batch``), wave by wave.

The round's acts are the first wave; the requests their answers start (conversation turns, friend decisions)
the next, and so on. For each wave the workers build every request's prompt as they would for an online call
and publish it (``PromptPrepared``) instead of calling; the driver writes a wave's prompts per model into JSONL
files, deals each model's to the endpoints serving it by weight and sends them through their Batch APIs
(logged as ``batch.submitted`` on the runs topic), polls until they are done, and publishes every request
again with its line's answer, which the worker takes as the call's (the same response event and accounting
as online; a failed or missing line is a dead letter, ``llm_<kind>``, tried again by a resume). A resumed
round first collects the batches its log says were sent, instead of paying for them twice. Once the round has
every outcome (no resume needs its batches again), their input, output and error files are deleted at the
endpoints.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any

import openai

from swarmstream import codec
from swarmstream.events import (
    BatchAnswer,
    BatchSubmitted,
    DeadLetter,
    InteractionRequested,
    InteractionResponded,
    PromptPrepared,
    derived_id,
)
from swarmstream.llm.batch import BatchClient, BatchState, LineResult, chunks, request_line
from swarmstream.outcomes import Idle, ReplyReader, outcomes_so_far
from swarmstream.progress import progress_bar
from swarmstream.publisher import EventPublisher
from swarmstream.settings import ANY_MODEL, LLMEndpoint, Settings
from swarmstream.society.config import RunConfig

Outcome = InteractionResponded | DeadLetter
POLL_FIRST_S = 1.0
POLL_MAX_S = 60.0


class BatchWaves:
    """One batch-mode round: its waves' prompts collected, sent, waited for and answered."""

    def __init__(
        self,
        settings: Settings,
        publisher: EventPublisher,
        config: RunConfig,
        round_: int,
        submitted: list[BatchSubmitted],
        log: Callable[[BatchSubmitted], Any],
        say: Callable[[str], None],
        show_progress: bool,
        check: Callable[[], None],
        resumed: bool = False,
    ):
        self.settings, self.publisher, self.config, self.round = settings, publisher, config, round_
        self.submitted = [batch for batch in submitted if batch.round == round_]
        self.log, self.say, self.show_progress, self.check = log, say, show_progress, check
        self.resumed = resumed
        self.spool = settings.run_dir(config.run_id) / "batches"
        # A prepared request (encoded) and its prompt's hash, until its answer is published.
        self.prepared: dict[str, tuple[bytes, str]] = {}
        self.prompts: ReplyReader | None = None
        self.finished: list[tuple[LLMEndpoint, BatchState]] = []  # batches answered: their files, for deletion

    def ours(self, event: Any) -> bool:
        return isinstance(event, DeadLetter) or (event.run_id == self.config.run_id and event.round == self.round)

    async def __aenter__(self) -> BatchWaves:
        """Reads the prompts the workers publish from now on (open it before the round's requests go out)."""
        self.prompts = ReplyReader(
            self.settings, keep=self.ours, topics=(self.settings.prompts_topic, self.settings.deadletter_topic)
        )
        await self.prompts.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.prompts is not None:
            await self.prompts.__aexit__(*exc)

    async def outcomes(
        self,
        reader: ReplyReader,
        first: set[str],
        earlier: dict[str, Outcome],
        limit_s: float,
        idle: Idle,
    ) -> AsyncIterator[Outcome]:
        """Every outcome of the round: those ``earlier`` (a resumed round), then each wave's, wave after wave.

        ``first``: the requests of the first wave (the round's acts, and dead letters a resume tries again).
        """
        for outcome in earlier.values():
            yield outcome
        started = {s for o in earlier.values() if isinstance(o, InteractionResponded) for s in o.started}
        wave_ids = (first | started) - earlier.keys()
        seen = set(earlier)
        if self.resumed:  # prompts published before the resume (a worker does not publish a request's twice)
            assert self.prompts is not None
            self.prompts.include((await outcomes_so_far(self.settings, self.ours, self.prompts.topics)).values())
        wave = 1 + max((batch.wave for batch in self.submitted), default=0)
        while wave_ids:
            reader.expect(wave_ids)
            collected = await self._collect_submitted(wave_ids, limit_s, idle)
            await self._send_wave(wave, wave_ids - collected, limit_s, idle)
            following: set[str] = set()
            async for outcome in reader.outcomes(limit_s, idle):
                seen.add(outcome.request_id)
                yield outcome
                if isinstance(outcome, InteractionResponded):
                    following.update(outcome.started)
            wave_ids, wave = following - seen, wave + 1
        await self._delete_files()

    async def _collect_submitted(self, wanted: set[str], limit_s: float, idle: Idle) -> set[str]:
        """The answers of batches sent before a resume, published for the ``wanted`` requests they hold; their ids."""
        answered: set[str] = set()
        batches, self.submitted = self.submitted, []
        for logged in batches:
            self.say(
                f"round {self.round}: collecting batch {logged.batch_id} sent before ({logged.requests:,} requests)"
            )
            client = BatchClient(logged_endpoint(self.settings, logged.model, logged.endpoint))
            try:
                state = await self._until_done(client, logged.batch_id, logged.requests)
                self.finished.append((client.endpoint, state))
                results = [result async for result in client.results(state) if result.custom_id in wanted]
            finally:
                await client.close()
            await self._prompts_of({result.custom_id for result in results}, limit_s, idle)
            await self._answer(logged, state, results, {result.custom_id for result in results})
            answered.update(result.custom_id for result in results)
        return answered

    async def _prompts_of(
        self, ids: set[str], limit_s: float, idle: Idle, write: Callable[[PromptPrepared], None] | None = None
    ) -> None:
        """The prompts of ``ids`` (their dead letters left out), as the workers publish them: each kept as its request
        (encoded) and hash, and given to ``write`` (a wave's spool) as it comes; none held whole."""
        assert self.prompts is not None
        missing = ids - self.prepared.keys()
        if not missing:
            return
        self.prompts.expect(missing)
        with progress_bar(len(missing), f"round {self.round} prompts", self.show_progress, "prompts") as bar:
            async for event in self.prompts.outcomes(limit_s, idle):
                self.check()
                bar.update(1)
                if isinstance(event, PromptPrepared):
                    self.prepared[event.request_id] = (codec.encode(event.request), event.prompt_hash)
                    if write is not None:
                        write(event)

    async def _send_wave(self, wave: int, ids: set[str], limit_s: float, idle: Idle) -> None:
        """The wave's prompts, by model, as batches; waited for; each request published with its answer."""
        if not ids:
            return
        self.spool.mkdir(parents=True, exist_ok=True)
        spools: dict[str, tuple[IO[bytes], list[str]]] = {}  # by model: its lines' file, and their request ids

        def write(prepared: PromptPrepared) -> None:
            if prepared.model not in spools:
                path = self.spool / f"round-{self.round}-wave-{wave}-{prepared.model.replace('/', '_')}.jsonl"
                spools[prepared.model] = (path.open("wb"), [])
            out, listed = spools[prepared.model]
            out.write(request_line(prepared.request_id, {**prepared.body, "model": prepared.model}) + b"\n")
            listed.append(prepared.request_id)

        try:
            await self._prompts_of(ids, limit_s, idle, write)
        finally:
            for out, _ in spools.values():
                out.close()
        sent: list[tuple[BatchSubmitted, BatchClient, set[str]]] = []
        try:
            for model, (out, listed) in sorted(spools.items()):
                done, parts = 0, itertools.count()
                with open(out.name, "rb") as spooled:  # a batch's lines at a time in memory, not the wave's
                    lines = (line.rstrip(b"\n") for line in spooled)
                    for endpoint, share in shares(endpoints_for(self.settings, model), len(listed)):
                        for group in chunks(itertools.islice(lines, share)):
                            wanted = set(listed[done : done + len(group)])
                            done += len(group)
                            part = Path(f"{out.name[: -len('.jsonl')]}-{next(parts)}.jsonl")
                            sent.append(await self._submit(wave, model, endpoint, group, wanted, part))
                Path(out.name).unlink()
            for logged, client, wanted in sent:
                state = await self._until_done(client, logged.batch_id, logged.requests)
                self.finished.append((client.endpoint, state))
                results = [result async for result in client.results(state)]
                await self._answer(logged, state, results, wanted)
        finally:
            for _, client, _ in sent:
                await client.close()

    async def _submit(
        self, wave: int, model: str, endpoint: LLMEndpoint, group: list[bytes], wanted: set[str], path: Path
    ) -> tuple[BatchSubmitted, BatchClient, set[str]]:
        """``group``'s lines sent as one batch to ``endpoint`` (written to ``path`` for the upload) and logged; its
        client is the caller's to close."""
        path.write_bytes(b"\n".join(group) + b"\n")
        client = BatchClient(endpoint)
        metadata = {"run_id": self.config.run_id, "round": str(self.round), "wave": str(wave)}
        try:
            batch_id = await client.submit(path, metadata)
            logged = BatchSubmitted(
                run_id=self.config.run_id, round=self.round, wave=wave, batch_id=batch_id,
                endpoint=endpoint.base_url, model=model, requests=len(group),
            )  # fmt: skip
            await self.log(logged)
        except BaseException:
            await client.close()
            raise
        finally:
            path.unlink()  # uploaded (the endpoint holds it now), or refused
        self.say(f"round {self.round} wave {wave}: batch {batch_id} of {len(group):,} requests sent to {client.name}")
        return logged, client, wanted

    async def _delete_files(self) -> None:
        """The round's batches' files deleted at their endpoints (a provider keeps them until then, against the
        account's storage); one that cannot be deleted now is named, not fatal."""
        deleted, finished, self.finished = 0, self.finished, []
        for endpoint, state in finished:
            client = BatchClient(endpoint)
            try:
                deleted += await client.delete_files(state)
            except openai.APIError as exc:
                self.say(f"round {self.round}: the files of batch {state.batch_id} at {client.name} are kept: {exc}")
            finally:
                await client.close()
        if finished:
            self.say(f"round {self.round}: {deleted} files of {len(finished)} batches deleted at their endpoints")

    async def _until_done(self, client: BatchClient, batch_id: str, requests: int) -> BatchState:
        """Polls the batch (every second at first, then less often, at most a minute apart) until it is done."""
        pause = POLL_FIRST_S
        started = time.monotonic()
        with progress_bar(requests, f"round {self.round} batch {batch_id[-12:]}", self.show_progress, "lines") as bar:
            while True:
                self.check()
                state = await client.state(batch_id)
                bar.n = state.completed + state.failed
                bar.set_postfix_str(state.status, refresh=True)
                if state.done:
                    break
                await asyncio.sleep(pause)
                pause = min(POLL_MAX_S, pause * 1.5)
        if state.status != "completed":
            self.say(f"batch {batch_id} ended {state.status} after {time.monotonic() - started:.0f} s {state.errors}")
        return state

    async def _answer(
        self, logged: BatchSubmitted, state: BatchState, results: list[LineResult], wanted: set[str]
    ) -> None:
        """Each request of ``wanted`` published again with its line's answer (a missing line: its failure)."""
        endpoint = f"{logged.model}@{logged.endpoint}"
        by_id = {result.custom_id: result for result in results if result.custom_id in wanted}

        def answered() -> Iterator[InteractionRequested]:
            for request_id in sorted(wanted):
                prepared = self.prepared.pop(request_id, None)
                if prepared is None:
                    continue  # dead-lettered by its worker: its outcome is that
                encoded, prompt_hash = prepared
                request = codec.decode(encoded, InteractionRequested)
                answer = _answer_of(by_id.get(request_id), logged, state, endpoint, prompt_hash)
                yield request.model_copy(
                    update={"event_id": derived_id("batch-answer", request.event_id), "answer": answer}
                )

        await self.publisher.publish_requests(answered())


def _answer_of(
    result: LineResult | None, logged: BatchSubmitted, state: BatchState, endpoint: str, prompt_hash: str
) -> BatchAnswer:
    """A request's answer from its result line; a line the batch lacks (expired, cancelled, failed) is a failure."""
    if result is None or result.error is not None:
        error, detail = ("batch_missing", f"batch {logged.batch_id} ended {state.status} without this request's line "
                         f"{state.errors}") if result is None else (result.error, result.detail)  # fmt: skip
        return BatchAnswer(
            batch_id=logged.batch_id, endpoint=endpoint, prompt_hash=prompt_hash, error=error,
            detail=detail.strip()[:2000],
        )  # fmt: skip
    raw = result.completion
    return BatchAnswer(
        batch_id=logged.batch_id, endpoint=endpoint, prompt_hash=prompt_hash, content=raw.content, model=raw.model,
        prompt_tokens=raw.prompt_tokens, completion_tokens=raw.completion_tokens, cached_tokens=raw.cached_tokens,
    )  # fmt: skip


def endpoints_for(settings: Settings, model: str) -> list[LLMEndpoint]:
    """The endpoints a model's batches are spread over: the pool's serving it, else the first fallback serving it."""
    pool = [endpoint for endpoint in settings.llm_pool() if endpoint.model in (model, ANY_MODEL)]
    fallback = [endpoint for endpoint in settings.llm_fallback_chain() if endpoint.model in (model, ANY_MODEL)]
    if not pool and not fallback:
        raise ValueError(f"--llm-batch: no endpoint serves model {model!r}")
    return pool or fallback[:1]


def shares(endpoints: list[LLMEndpoint], lines: int) -> list[tuple[LLMEndpoint, int]]:
    """``lines`` dealt to ``endpoints`` by weight (largest remainders; ties to the earlier), those dealt none left
    out."""
    total = sum(endpoint.weight for endpoint in endpoints)
    exact = [lines * endpoint.weight / total for endpoint in endpoints]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(endpoints)), key=lambda i: (counts[i] - exact[i], i))
    for i in by_remainder[: lines - sum(counts)]:
        counts[i] += 1
    return [(endpoint, count) for endpoint, count in zip(endpoints, counts, strict=True) if count]


def logged_endpoint(settings: Settings, model: str, base_url: str) -> LLMEndpoint:
    """The endpoint a logged batch was sent to (a resume collects it there)."""
    for endpoint in settings.all_llm_endpoints():
        if endpoint.model in (model, ANY_MODEL) and endpoint.base_url == base_url:
            return endpoint
    raise ValueError(
        f"--resume: batch sent to {base_url} for model {model!r}, which no endpoint in LLM_ENDPOINTS, LLM_BASE_URL "
        "or LLM_FALLBACKS serves now (put it back to collect the batch)"
    )
