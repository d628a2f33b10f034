"""An OpenAI-compatible chat-completions server for local runs and tests.

Replies are deterministic functions of the prompt; latency follows a configurable distribution;
``usage`` counts tokens the way the reply was built. Optional RPM/TPM limits answer 429 with
``Retry-After`` and ``x-ratelimit-*`` headers, and faults (429, 5xx, hangs, malformed bodies,
connection resets) are injected at configured rates. ``GET /stats`` reports what was answered,
``GET /metrics`` the same for Prometheus.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
import re
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field, model_validator

from swarmstream import action_space, questions
from swarmstream import prompt_contract as contract
from swarmstream.prompt_contract import PromptKind

_WORDS = [
    "hello",
    "friend",
    "community",
    "idea",
    "share",
    "story",
    "music",
    "garden",
    "code",
    "river",
    "travel",
    "coffee",
    "book",
    "dream",
    "science",
    "art",
    "morning",
    "project",
    "curious",
    "together",
    "learn",
    "build",
    "laugh",
    "plan",
    "city",
    "forest",
    "ocean",
    "game",
    "question",
    "answer",
    "remember",
    "future",
    "weekend",
    "recipe",
    "bright",
    "quiet",
    "adventure",
    "kind",
    "honest",
]
_TRUNCATED = b'{"id": "chatcmpl-sim", "choices": [{"message": '
_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A tokenizer-free estimate: words and punctuation marks."""
    return len(_TOKEN.findall(text))


class LatencyModel(BaseModel):
    """How long each completion takes: fixed, uniform between min and max, or lognormal."""

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    mean_ms: float = Field(100.0, ge=0)
    min_ms: float = Field(0.0, ge=0)
    max_ms: float = Field(60_000.0, ge=0)
    sigma: float = Field(0.5, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> LatencyModel:
        if self.min_ms > self.max_ms:
            raise ValueError("min_ms must not exceed max_ms")
        return self

    def sample_s(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            ms = self.mean_ms
        elif self.kind == "uniform":
            ms = rng.uniform(self.min_ms, self.max_ms)
        else:
            # Parameterised so that the distribution's mean is mean_ms.
            mu = math.log(max(self.mean_ms, 1e-3)) - self.sigma**2 / 2
            ms = rng.lognormvariate(mu, self.sigma)
        return min(max(ms, self.min_ms), self.max_ms) / 1000.0


class FaultRates(BaseModel):
    """Fraction of calls answered with each fault, drawn independently of the rate limits."""

    rate_limit: float = Field(0.0, ge=0, le=1, description="429 with Retry-After")
    server_error: float = Field(0.0, ge=0, le=1, description="500, 502 or 503")
    timeout: float = Field(0.0, ge=0, le=1, description="hang for hang_s, then answer")
    malformed: float = Field(0.0, ge=0, le=1, description="200 with a truncated JSON body")
    reset: float = Field(0.0, ge=0, le=1, description="close the connection without answering")
    hang_s: float = Field(60.0, ge=0)
    retry_after_s: float = Field(0.2, ge=0)

    @model_validator(mode="after")
    def _at_most_one(self) -> FaultRates:
        if self.rate_limit + self.server_error + self.timeout + self.malformed + self.reset > 1:
            raise ValueError("fault rates add up to more than 1")
        return self


class RateLimits(BaseModel):
    """Provider-style limits, refilled continuously and enforced over ``burst_s`` windows.

    "6,000 RPM" is enforced the way providers do it: about 100 requests per second, with at
    most ``burst_s`` seconds of budget saved up, not 6,000 at once.
    """

    rpm: float | None = Field(None, gt=0)
    tpm: float | None = Field(None, gt=0)
    burst_s: float = Field(1.0, gt=0)


class PromptCache(BaseModel):
    """Prompt caching as OpenAI reports it: a prompt of at least ``min_tokens`` whose leading messages were sent
    before has that prefix's tokens, in whole ``block``s, as ``usage.prompt_tokens_details.cached_tokens``."""

    min_tokens: int = Field(1024, ge=0)
    block: int = Field(128, ge=1)
    entries: int = Field(200_000, ge=1)  # prefixes remembered, least recently used forgotten first


class BatchConfig(BaseModel):
    """How the Batch API behaves (``swarmstream.llm.simulator_batch``): seconds a batch waits before its lines are
    answered, and the share of lines that fail."""

    delay_s: float = Field(5.0, ge=0)
    line_error_rate: float = Field(0.0, ge=0, le=1)


class SimulatorConfig(BaseModel):
    latency: LatencyModel = Field(default_factory=LatencyModel)
    models: list[str] = Field(default_factory=lambda: ["gpt-3.5-turbo", "gpt-4o-mini"])
    seed: int = 0
    limits: RateLimits = Field(default_factory=RateLimits)
    faults: FaultRates = Field(default_factory=FaultRates)
    prompt_cache: PromptCache | None = None  # None: nothing is reported cached
    batch: BatchConfig = Field(default_factory=BatchConfig)


@dataclass(frozen=True)
class Answer:
    """What the simulator answers a prompt: its kind, and words or (for an act with tools) one tool call."""

    kind: PromptKind
    content: str | None
    tool_call: dict[str, str] | None = None  # {"name": ..., "arguments": <a JSON object, as text>}

    @property
    def text(self) -> str:
        """What the answer's tokens are counted on."""
        if self.tool_call is not None:
            return f"{self.tool_call['name']} {self.tool_call['arguments']}"
        return self.content or ""

    def message(self, call_id: str = "call_sim") -> dict[str, Any]:
        """The chat completion's ``choices[0].message``."""
        if self.tool_call is None:
            return {"role": "assistant", "content": self.content}
        call = {"id": call_id, "type": "function", "function": dict(self.tool_call)}
        return {"role": "assistant", "content": None, "tool_calls": [call]}


def reply_for(messages: list[dict[str, Any]], max_tokens: int) -> str:
    """A deterministic reply derived from the prompt, as a model would answer its kind (see :func:`answer`)."""
    return answer(messages, max_tokens).text


def answer(messages: list[dict[str, Any]], max_tokens: int, body: Mapping[str, Any] | None = None) -> Answer:
    """The prompt's kind (by ``swarmstream.prompt_contract``) and a deterministic answer derived from the prompt.

    A chat or a conversation's turn gets a sentence. Asked for a friend request's JSON answer, it answers
    like a model: mostly the JSON (about 70 % accept), sometimes prose that answers nothing (5 %), so both
    paths of the parser are exercised; an act gets an action (:func:`_action_for`), held to the schema or
    tools the request ``body`` carries, as a server enforcing them would.
    """
    digest = hashlib.blake2b(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()
    rng = random.Random(digest)
    kind = contract.kind_of(messages)
    if kind == "friend_request":
        roll = rng.random()
        if roll < 0.05:
            return Answer(kind, "Hmm, let me think about it. " + " ".join(rng.choice(_WORDS) for _ in range(6)) + ".")
        reason = " ".join(rng.choice(_WORDS) for _ in range(3))
        return Answer(kind, orjson.dumps({"accept": roll < 0.72, "reason": reason}).decode())
    if kind == "act":
        return _act(messages[-1]["content"], rng, body or {})
    if kind == "survey":
        return _survey(messages, body or {})
    if kind == "interview":
        return Answer(kind, _interviewed(messages[-1]["content"], rng))
    length = min(max_tokens - 1, rng.randint(8, 40))
    words = [rng.choice(_WORDS) for _ in range(max(length, 1))]
    return Answer(kind, " ".join(words).capitalize() + ".")


def _act(prompt: str, rng: random.Random, body: Mapping[str, Any]) -> Answer:
    """An act's answer: in the request's schema, as a call of one of its tools, or as JSON in words."""
    calls = bool(body.get("tools")) and body.get("tool_choice") != "none"
    schema = isinstance(body.get("response_format"), dict) and body["response_format"].get("type") == "json_schema"
    enforced = action_space.offered_by(body) if calls or schema else None
    offered = enforced or tuple(contract.listed(prompt, action_space.ACTIONS_LABEL)) or action_space.ALL
    chosen = _action_for(prompt, rng, offered, prose=enforced is None)
    if isinstance(chosen, str):
        return Answer("act", chosen)
    if calls:
        fields = action_space.fields_of(chosen["action"])
        arguments = {name: chosen.get(name, "") for name in fields}
        return Answer("act", None, {"name": chosen["action"], "arguments": orjson.dumps(arguments).decode()})
    if schema:  # a strict schema: every property, empty where the action has no use for it
        properties = body["response_format"]["json_schema"]["schema"].get("properties") or {}
        chosen = {name: chosen.get(name, "") for name in properties}
    return Answer("act", orjson.dumps(chosen).decode())


# An act's draw: each action's weight, among those offered and possible; prose (no action) first, when allowed.
ACT_WEIGHTS = {
    "post": 20, "comment": 7, "like": 18, "dislike": 4, "repost": 10, "quote": 4, "follow": 6, "unfollow": 2,
    "mute": 2, "message": 10, "befriend": 7, "none": 7,
}  # fmt: skip
_PROSE = 0.05
# How much more likely a sharing agent shares a repost or quote than a post of the same draw.
_SHARED_PULL = 4
# The feed's sections: announcements first, then what follows them.
_ANNOUNCED = contract.ANNOUNCEMENTS
_AFTER_ANNOUNCED = (contract.SAID, contract.FRIENDS_POSTED, contract.RANKED_POSTS)
_NUMBERED = re.compile(r"\[(\d+)\] ([^\s:]+)")


def _feed_posts(prompt: str) -> list[tuple[str, str | None, int, bool]]:
    """The feed's numbered posts in ``prompt``: (number, author, weight, shared), the weight growing with what
    each drew (a like counts 1, a repost 3): attention goes where attention went, so likes are heavy-tailed;
    ``shared``: a repost or quote, which a sharing agent prefers (what is being shared is shared on), so that
    reposts chain into cascades. A broadcast's author (no agent: nobody follows or mutes it) is None."""
    found = []
    start = prompt.find(_ANNOUNCED)
    ends = [at for label in _AFTER_ANNOUNCED if (at := prompt.find(label, start)) >= 0] if start >= 0 else []
    announced = range(start, min(ends, default=len(prompt))) if start >= 0 else range(0)
    matches = list(_NUMBERED.finditer(prompt))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(prompt)
        segment = prompt[match.end() : end]
        likes = re.search(r"(\d+) likes?\b", segment)
        reposts = re.search(r"(\d+) reposts?\b", segment)
        weight = 1 + (int(likes.group(1)) if likes else 0) + 3 * (int(reposts.group(1)) if reposts else 0)
        shared = segment.startswith((" reposted:", " quoted a post:"))
        author = None if match.start() in announced else match.group(2)
        found.append((match.group(1), author, weight, shared))
    return found


def _action_for(prompt: str, rng: random.Random, offered: tuple[str, ...], prose: bool) -> dict[str, str] | str:
    """A round's action among ``offered``, as a model would choose one; or prose that is no action.

    By weight (``ACT_WEIGHTS``) among the actions offered and possible (a message needs a friend, a like a post in
    the feed, an unfollow someone followed); 5 % prose (counted as malformed) unless a schema or tools are enforced.
    A post is chosen by what it drew, and agents follow the authors of what they read.
    """
    friends, others = contract.listed(prompt, contract.FRIENDS), contract.listed(prompt, contract.CANDIDATES)
    follows = contract.listed(prompt, contract.FOLLOWS)
    posts = _feed_posts(prompt)
    authors = [author for _, author, _, _ in posts if author is not None]
    text = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 16))).capitalize() + "."
    roll = rng.random()
    if roll < _PROSE and prose:
        return "I would rather just watch today. " + text
    possible = {
        "post": True, "comment": bool(posts), "like": bool(posts), "dislike": bool(posts), "repost": bool(posts),
        "quote": bool(posts), "follow": bool(authors or others), "unfollow": bool(follows), "mute": bool(authors),
        "message": bool(friends), "befriend": bool(others or friends), "none": True,
    }  # fmt: skip
    choices = [name for name in ACT_WEIGHTS if name in offered and possible[name]] or ["none"]
    total = sum(ACT_WEIGHTS[name] for name in choices)
    point = rng.random() * total
    for name in choices:
        point -= ACT_WEIGHTS[name]
        if point < 0:
            break
    if name in ("comment", "like", "dislike", "repost", "quote"):
        sharing = name in ("repost", "quote")
        weights = [weight * (_SHARED_PULL if sharing and shared else 1) for _, _, weight, shared in posts]
        number = rng.choices([number for number, _, _, _ in posts], weights=weights)[0]
        return {"action": name, "post": number, **({"text": text} if name in ("comment", "quote") else {})}
    if name == "post":
        return {"action": "post", "text": text}
    if name == "message":
        return {"action": "message", "to": rng.choice(friends), "text": text}
    if name == "befriend":
        return {"action": "befriend", "to": rng.choice(others or friends), "text": text}
    if name == "follow":
        return {"action": "follow", "to": rng.choice(authors or others)}
    if name == "unfollow":
        return {"action": "unfollow", "to": rng.choice(follows)}
    if name == "mute":
        return {"action": "mute", "to": rng.choice(authors)}
    return {"action": "none"}


# Words too common to tie a question to what an agent read.
_STOPWORDS_TEXT = (
    "about after again also among because been before being could does doing from have having here into just "
    "more most much only other over should some such than that their them then there these they this those "
    "through under very what when where which while will with would your yours"
)
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_WORD = re.compile(r"[^\W\d_]{4,}")
# A survey answer moves one option up (a scale) or weighs a choice this much more, per item seen that shares a
# word with the question (or the choice), at most this many items.
_LEAN_MAX = 2
_CHOICE_PULL = 3


def _survey(messages: list[dict[str, Any]], body: Mapping[str, Any]) -> Answer:
    """A survey's answer: one of its options, seeded by who is asked and the question, moved by what it read.

    The draw derives from the system message (the agent) and the question only, so that agents asked the same
    question in two arms of a study answer alike unless what they read differs. Each item of its feed and memory
    that shares a word (four letters or more, not a common one) with the question moves a scale's answer one
    step up, or weighs each choice more by the words it shares with those items (at most two items count): a broadcast
    about the question's subject moves the answers of those shown it. In the schema, as a tool call, or as JSON
    in words (5 % prose, which answers nothing) as the request asks.
    """
    prompt = messages[-1]["content"]
    start = prompt.find(contract.SURVEY_MARKER)
    line_end = prompt.find("\n", start)
    question = prompt[start + len(contract.SURVEY_MARKER) : line_end if line_end >= 0 else None]
    instruction = prompt[line_end + 1 :] if line_end >= 0 else ""
    system = messages[0].get("content", "") if len(messages) > 1 else ""
    rng = random.Random(hashlib.blake2b(f"{system}\n{question}".encode(), digest_size=16).digest())
    calls = bool(body.get("tools")) and body.get("tool_choice") != "none"
    response_format = body.get("response_format")
    schema = isinstance(response_format, dict) and response_format.get("type") == "json_schema"
    options = _options_enforced(body) if calls or schema else None
    if options is None:
        options = _options_said(instruction)
    read = [set(_content_words(item)) for item in re.split(r"\[\d+\]| / |\. ", prompt[: max(start, 0)])]
    asked = set(_content_words(question))
    if not options:
        return Answer("survey", "I do not know how to answer that.")
    roll = rng.random()
    if roll < _PROSE and not (calls or schema):
        return Answer("survey", "Hard to say, it depends on the day.")
    if all(isinstance(option, int) for option in options):
        lean = min(_LEAN_MAX, sum(1 for words in read if words & asked))
        # Around the middle of the scale: the mean of two uniform draws.
        middle = (rng.random() + rng.random()) / 2 * (len(options) - 1)
        chosen: object = options[min(len(options) - 1, round(middle) + lean)]
    else:
        relevant = [words for words in read if words & asked][:_LEAN_MAX]
        weights = [
            1 + _CHOICE_PULL * sum(len(words & set(_content_words(str(option)))) for words in relevant)
            for option in options
        ]
        chosen = rng.choices(options, weights=weights)[0]
    arguments = orjson.dumps({"answer": chosen}).decode()
    if calls:
        return Answer("survey", None, {"name": "answer", "arguments": arguments})
    return Answer("survey", arguments)


def _content_words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text.casefold()) if word not in _STOPWORDS]


def _options_enforced(body: Mapping[str, Any]) -> list[Any] | None:
    """A survey's options as its schema or its tool's parameters enumerate them."""
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema") or {}
    else:
        tools = body.get("tools") or []
        schema = ((tools[0].get("function") or {}).get("parameters") or {}) if tools else {}
    enum = ((schema.get("properties") or {}).get("answer") or {}).get("enum")
    return list(enum) if isinstance(enum, list) and enum else None


_SCALE_SAID = re.compile(re.escape(questions.SCALE_WORDS) + r" (-?\d+) to (-?\d+)\.")


def _options_said(instruction: str) -> list[Any]:
    """A survey's options as its instruction says them, in words."""
    scale = _SCALE_SAID.search(instruction)
    if scale is not None:
        return list(range(int(scale.group(1)), int(scale.group(2)) + 1))
    start = instruction.find(questions.CHOICE_WORDS)
    if start < 0:
        return []
    listed = instruction[start + len(questions.CHOICE_WORDS) : instruction.find(" Answer only with JSON")]
    try:
        choices = orjson.loads("[" + listed.strip().rstrip(".") + "]")
    except orjson.JSONDecodeError:
        return []
    return [choice for choice in choices if isinstance(choice, str)]


def _interviewed(prompt: str, rng: random.Random) -> str:
    """An interview's answer: a few sentences, which name the first announcement the agent read, if any."""
    said = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."
    start = prompt.find(contract.ANNOUNCEMENTS)
    if start < 0:
        return said
    first = re.match(
        r"\[\d+\] [^:]+: ([^/]*?)(?: \(\d+ [a-z]+.*?\))?(?: / |\. [A-Z]|\.? ?$)",
        prompt[start + len(contract.ANNOUNCEMENTS) :],
    )
    if first is None:
        return said
    return f'I read "{" ".join(first.group(1).split()[:12])}". {said}'


_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def _structure_error(body: dict[str, Any]) -> str | None:
    """Why a request's ``response_format`` or ``tools`` would be refused (400) as OpenAI refuses them; None: fine."""
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return "Invalid value for 'response_format.type': expected 'text', 'json_object' or 'json_schema'"
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
                return "Missing required parameter: 'response_format.json_schema.name'"
            schema = spec.get("schema")
            if not isinstance(schema, dict) or schema.get("type") != "object":
                return f"Invalid schema for response_format '{spec['name']}': the root must be an object"
            properties = schema.get("properties") or {}
            if spec.get("strict") and (
                schema.get("additionalProperties") is not False or set(schema.get("required") or ()) != set(properties)
            ):
                return (
                    f"Invalid schema for response_format '{spec['name']}': a strict schema needs "
                    "'additionalProperties': false and 'required' naming every property"
                )
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list) or not tools:
            return "Invalid 'tools': expected a non-empty array"
        for index, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
            if not isinstance(function, dict) or not _TOOL_NAME.match(str(function.get("name"))):
                return f"Invalid 'tools[{index}]': a function with a name of letters, digits, _ or - (64 at most)"
    choice = body.get("tool_choice")
    if choice is not None and not tools and choice != "none":
        return "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified"
    return None


def request_error(body: Any) -> str | None:
    """Why a chat-completion request body is refused (400), as OpenAI words it; None when it is valid."""
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    if body.get("stream"):
        return "streaming is not supported by the simulator"
    try:
        if _max_tokens(body) < 1:
            return "'max_tokens' must be at least 1"
    except (TypeError, ValueError):
        return "'max_tokens' must be an integer"
    return _structure_error(body)


def _max_tokens(body: dict[str, Any]) -> int:
    return int(body.get("max_tokens") or body.get("max_completion_tokens") or 150)


def prompt_tokens_of(body: dict[str, Any]) -> int:
    """The prompt's tokens: its messages', and (as providers count them) its schema's and tools' definitions."""
    messages = body["messages"]
    prompt_text = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    tokens = count_tokens(prompt_text) + 4 * len(messages)
    for name in ("response_format", "tools"):
        if body.get(name):
            tokens += count_tokens(orjson.dumps(body[name]).decode())
    return tokens


def error_response(
    status: int, message: str, kind: str = "invalid_request_error", headers: dict | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)


class _Bucket:
    """The server's view of one limit: ``per_minute`` refilled continuously, ``burst_s`` deep."""

    def __init__(self, per_minute: float, burst_s: float):
        self.per_minute = per_minute
        self.rate = per_minute / 60
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.updated = time.monotonic()

    def refill(self) -> float:
        now = time.monotonic()
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        return self.level

    def wait_for(self, amount: float) -> float:
        return max(0.0, (min(amount, self.capacity) - self.refill()) / self.rate)


class Simulator:
    def __init__(self, config: SimulatorConfig):
        self.config = config
        self._rng = random.Random(config.seed)
        limits = config.limits
        self._requests = _Bucket(limits.rpm, limits.burst_s) if limits.rpm else None
        self._tokens = _Bucket(limits.tpm, limits.burst_s) if limits.tpm else None
        self.completions = 0
        self.inflight = 0
        self.tokens_used = 0
        self.cached_tokens = 0
        self._prefixes: OrderedDict[bytes, None] = OrderedDict()
        self.rate_limited = 0
        # Completions by the kind of prompt they answered (``swarmstream.prompt_contract``).
        self.by_kind: dict[str, int] = dict.fromkeys(contract.PROMPT_KINDS, 0)
        self.faults: dict[str, int] = dict.fromkeys(("rate_limit", "server_error", "timeout", "malformed", "reset"), 0)

    def _limit_headers(self) -> dict[str, str]:
        headers = {}
        for name, bucket in (("requests", self._requests), ("tokens", self._tokens)):
            if bucket is not None:
                level = bucket.refill()
                headers[f"x-ratelimit-limit-{name}"] = f"{bucket.per_minute:g}"
                headers[f"x-ratelimit-remaining-{name}"] = str(max(0, int(level)))
                headers[f"x-ratelimit-reset-{name}"] = f"{(bucket.capacity - level) / bucket.rate:.3f}s"
        return headers

    def _admit(self, tokens: int) -> web.Response | None:
        """Charge one request and ``tokens``; a 429 when either limit is exhausted."""
        wait = 0.0
        if self._requests is not None:
            wait = max(wait, self._requests.wait_for(1))
        if self._tokens is not None:
            wait = max(wait, self._tokens.wait_for(tokens))
        if wait > 0:
            self.rate_limited += 1
            return self._too_many(wait, "Rate limit reached: requests or tokens per minute")
        if self._requests is not None:
            self._requests.level -= 1
        if self._tokens is not None:
            self._tokens.level -= tokens
        return None

    def _too_many(self, wait_s: float, message: str) -> web.Response:
        headers = self._limit_headers()
        headers["retry-after-ms"] = str(max(1, math.ceil(wait_s * 1000)))
        headers["retry-after"] = str(max(1, math.ceil(wait_s)))
        return error_response(429, message, "rate_limit_exceeded", headers)

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        faults = self.config.faults
        draw = self._rng.random()
        for kind in ("rate_limit", "server_error", "timeout", "malformed", "reset"):
            draw -= getattr(faults, kind)
            if draw < 0:
                break
        else:
            return None
        self.faults[kind] += 1
        if kind == "rate_limit":
            return self._too_many(faults.retry_after_s, "injected rate limit")
        if kind == "server_error":
            return error_response(self._rng.choice([500, 502, 503]), "injected server error", "server_error")
        if kind == "timeout":
            await asyncio.sleep(faults.hang_s)
            return None
        if kind == "malformed":
            return web.Response(
                body=b'{"id": "chatcmpl-sim", "choices": [{"message": ', content_type="application/json"
            )
        assert request.transport is not None
        request.transport.abort()
        raise asyncio.CancelledError

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        self.inflight += 1
        try:
            return await self._complete(request)
        finally:
            self.inflight -= 1

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return error_response(400, "request body is not JSON")
        refused = request_error(body)
        if refused is not None:
            return error_response(400, refused)
        fault = await self._fault(request)
        if fault is not None:
            return fault
        max_tokens = _max_tokens(body)
        prompt_tokens = prompt_tokens_of(body)
        # Like providers, charge max_tokens up front and refund what the reply did not use.
        rejected = self._admit(prompt_tokens + max_tokens)
        if rejected is not None:
            return rejected
        headers = self._limit_headers()
        await asyncio.sleep(self.config.latency.sample_s(self._rng))
        payload = self.completion(body, prompt_tokens)
        if self._tokens is not None:
            used = payload["usage"]["completion_tokens"]
            self._tokens.level = min(self._tokens.capacity, self._tokens.level + max_tokens - used)
        return web.Response(body=orjson.dumps(payload), content_type="application/json", headers=headers)

    def completion(self, body: dict[str, Any], prompt_tokens: int) -> dict[str, Any]:
        """The chat completion answering ``body`` (a valid request: :func:`request_error` says None), counted."""
        messages, max_tokens = body["messages"], _max_tokens(body)
        model = body.get("model") or self.config.models[0]
        said = answer(messages, max_tokens, body)
        self.by_kind[said.kind] += 1
        completion_tokens = count_tokens(said.text)
        self.completions += 1
        self.tokens_used += prompt_tokens + completion_tokens
        cached = self._cached(messages, prompt_tokens)
        self.cached_tokens += cached
        payload = {
            "id": f"chatcmpl-sim-{self.completions}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": said.message(f"call_sim_{self.completions}"),
                    "finish_reason": "tool_calls" if said.tool_call is not None else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            },
        }
        return payload

    def _cached(self, messages: list[Any], prompt_tokens: int) -> int:
        """Tokens of the longest run of leading messages sent before, in whole blocks (0 below ``min_tokens``)."""
        cache = self.config.prompt_cache
        if cache is None:
            return 0
        digest, tokens, hit = b"", 0, 0
        for message in messages:
            digest = hashlib.blake2b(
                digest + orjson.dumps(message, option=orjson.OPT_SORT_KEYS), digest_size=16
            ).digest()
            tokens += count_tokens(str(message.get("content", ""))) + 4 if isinstance(message, dict) else 0
            if digest in self._prefixes:
                self._prefixes.move_to_end(digest)
                hit = tokens
            else:
                self._prefixes[digest] = None
                if len(self._prefixes) > cache.entries:
                    self._prefixes.popitem(last=False)
        if prompt_tokens < cache.min_tokens:
            return 0
        return min(prompt_tokens, hit // cache.block * cache.block)

    async def models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "swarmstream"} for m in self.config.models]
        return web.json_response({"object": "list", "data": data})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def figures(self) -> dict[str, Any]:
        """What the simulator answered so far: completions (batch lines too), tokens, 429s, injected faults."""
        return {
            "completions": self.completions,
            "tokens": self.tokens_used,
            "cached_tokens": self.cached_tokens,
            "rate_limited": self.rate_limited,
            "faults": self.faults,
            "by_kind": self.by_kind,
        }


class SimulatorCollector(Collector):
    def __init__(self, sim: Simulator):
        self.sim = sim

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        sim = self.sim
        yield CounterMetricFamily("swarmstream_llm_sim_completions", "Chat completions answered", sim.completions)
        yield CounterMetricFamily(
            "swarmstream_llm_sim_tokens", "Tokens of answered completions (prompt and reply)", sim.tokens_used
        )
        yield CounterMetricFamily(
            "swarmstream_llm_sim_rate_limited", "Requests refused with 429 by the RPM/TPM limits", sim.rate_limited
        )
        faults = CounterMetricFamily("swarmstream_llm_sim_faults", "Faults injected, by kind", labels=["fault"])
        for kind, count in sim.faults.items():
            faults.add_metric([kind], count)
        yield faults
        kinds = CounterMetricFamily(
            "swarmstream_llm_sim_prompts", "Completions answered, by the kind of prompt", labels=["kind"]
        )
        for kind, count in sim.by_kind.items():
            kinds.add_metric([kind], count)
        yield kinds
        yield GaugeMetricFamily("swarmstream_llm_sim_inflight", "Requests being answered now", sim.inflight)
