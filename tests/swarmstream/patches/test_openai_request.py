"""ChatOpenAI sends exactly what the openai package itself sends: a package that changes its requests fails here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx2
import openai
import pytest
from openai import AsyncOpenAI

from swarmstream.llm.client import _OMITTED_HEADERS
from swarmstream.patches.openai_request import ChatOpenAI

COMPLETION = b'{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1},"model":"m"}'


def _client(cls: type[AsyncOpenAI], sent: list[httpx2.Request]) -> AsyncOpenAI:
    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, content=COMPLETION, headers={"content-type": "application/json"})

    return cls(
        base_url="http://llm.test/v1",
        api_key="key",
        timeout=12.5,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(transport=httpx2.MockTransport(answer)),
    )


def _bodies() -> list[dict[str, object]]:
    return [
        {"model": "m", "messages": [{"role": "user", "content": f'hello {n} ünïcødé "quoted"\n'}], "max_tokens": n}
        for n in range(1, 5)
    ]


def _seen(request: httpx2.Request) -> tuple[object, ...]:
    return request.method, str(request.url), request.headers.multi_items(), request.content, request.extensions


async def test_each_chat_request_is_the_one_the_package_builds():
    ours, theirs = [], []
    fast, plain = _client(ChatOpenAI, ours), _client(AsyncOpenAI, theirs)
    for body in _bodies():
        for client in (fast, plain):
            response = await client.post(
                "/chat/completions", body=body, options={"headers": _OMITTED_HEADERS}, cast_to=httpx2.Response
            )
            assert response.status_code == 200
    assert len(ours) == len(theirs) == 4
    assert [_seen(r) for r in ours] == [_seen(r) for r in theirs]
    assert len(fast._shapes) == 1, "the first request's parts served the other three"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "options",
    [
        {"params": {"q": "1"}},  # query parameters: the package's own build
        {"headers": {"x-trace": "a"}, "extra_json": {"seed": 1}},
    ],
)
async def test_requests_of_other_shapes_go_through_the_package_unchanged(options: dict[str, object]):
    ours, theirs = [], []
    fast, plain = _client(ChatOpenAI, ours), _client(AsyncOpenAI, theirs)
    for client in (fast, plain):
        await client.post("/chat/completions", body=_bodies()[0], options=options, cast_to=httpx2.Response)
    assert [_seen(r) for r in ours] == [_seen(r) for r in theirs]
    assert not fast._shapes  # type: ignore[attr-defined]


async def test_custom_headers_make_their_own_shape():
    ours: list[httpx2.Request] = []
    fast = _client(ChatOpenAI, ours)
    for trace in ("a", "b", "a"):
        await fast.post(
            "/chat/completions", body=_bodies()[0], options={"headers": {"x-trace": trace}}, cast_to=httpx2.Response
        )
    assert [r.headers["x-trace"] for r in ours] == ["a", "b", "a"]
    assert len(fast._shapes) == 2  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [Decimal("0.5"), datetime(2026, 12, 2, 18, 30, tzinfo=UTC), date(2026, 12, 2), float("nan"), [float("-inf")]],
)
async def test_a_body_that_is_not_plain_json_is_left_to_the_package(value: object):
    outcomes: dict[type[AsyncOpenAI], list[object]] = {}
    for cls in (ChatOpenAI, AsyncOpenAI):
        sent: list[httpx2.Request] = []
        client, outcome = _client(cls, sent), outcomes.setdefault(cls, [])
        for body in (_bodies()[0], {**_bodies()[0], "metadata": {"value": value}}):
            try:
                await client.post("/chat/completions", body=body, cast_to=httpx2.Response)
                outcome.append(_seen(sent[-1]))
            except (TypeError, ValueError) as exc:
                outcome.append(repr(exc))
    assert outcomes[ChatOpenAI] == outcomes[AsyncOpenAI]
