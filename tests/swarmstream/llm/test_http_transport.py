"""The keep-alive transport under the openai package, against servers that misbehave on purpose."""

from __future__ import annotations

import asyncio
import gzip
import json
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx2
import openai
import pytest

from swarmstream.llm.http_transport import KeepAliveTransport
from swarmstream.llm.retry import error_kind

BODY = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(BODY), BODY)

# (connection number, request number on it) -> the bytes to answer, or None to hang up without a word.
Respond = Callable[[int, int], Awaitable[bytes | None]]


class Server:
    """A raw HTTP/1.1 server: reads whole requests, answers what ``respond`` says."""

    def __init__(self, respond: Respond):
        self.respond = respond
        self.connections = 0
        self.open = 0
        self.peak_open = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        self.open += 1
        self.peak_open = max(self.peak_open, self.open)
        try:
            for request_number in range(1_000):
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                )
                self.requests.append(head + await reader.readexactly(length))
                answer = await self.respond(number, request_number)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.open -= 1
            writer.close()


async def ok(connection: int, request: int) -> bytes:
    return OK


async def first_connection_hangs(connection: int, request: int) -> bytes:
    if connection == 0:
        await asyncio.sleep(30)
    return OK


def openai_client(
    port: int, transport: KeepAliveTransport, timeout: float = 5.0, scheme: str = "http"
) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{scheme}://127.0.0.1:{port}/v1",
        api_key="k",
        max_retries=0,
        timeout=timeout,
        http_client=openai.DefaultAsyncHttpxClient(transport=transport),
    )


async def chat(client: openai.AsyncOpenAI) -> httpx2.Response:
    return await client.post(
        "/chat/completions",
        body={"model": "m", "messages": [{"role": "user", "content": "hello"}]},
        cast_to=httpx2.Response,
    )


async def test_calls_reuse_one_connection_and_send_what_the_package_built():
    async with Server(ok) as server:
        client = openai_client(server.port, KeepAliveTransport(10))
        responses = [await chat(client) for _ in range(20)]
        await client.close()
    assert [r.json()["choices"][0]["message"]["content"] for r in responses] == ["hi"] * 20
    assert server.connections == 1
    request = server.requests[0]
    assert request.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    assert b"\r\nauthorization: bearer k\r\n" in request.lower()
    assert json.loads(request.split(b"\r\n\r\n", 1)[1]) == {
        "model": "m",
        "messages": [{"role": "user", "content": "hello"}],
    }


async def test_chunked_and_gzip_bodies_are_decoded():
    packed = gzip.compress(BODY)
    chunked = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        + b"%x\r\n%s\r\n" % (10, packed[:10])
        + b"%x\r\n%s\r\n" % (len(packed) - 10, packed[10:])
        + b"0\r\n\r\n"
    )

    async def respond(connection: int, request: int) -> bytes:
        return chunked

    async with Server(respond) as server:
        client = openai_client(server.port, KeepAliveTransport(10))
        first, second = await chat(client), await chat(client)
        await client.close()
    assert first.json() == second.json() == json.loads(BODY)
    assert server.connections == 1


async def test_connection_close_is_honoured():
    async def respond(connection: int, request: int) -> bytes:
        return OK.replace(b"content-type", b"connection: close\r\ncontent-type")

    async with Server(respond) as server:
        transport = KeepAliveTransport(10)
        client = openai_client(server.port, transport)
        await chat(client)
        await chat(client)
        await client.close()
    assert server.connections == 2
    assert transport.pool.open == 0


async def test_a_kept_alive_connection_closed_under_a_new_request_is_retried_once():
    async def respond(connection: int, request: int) -> bytes | None:
        # The first connection answers once, then hangs up on the next request, as a server
        # whose keep-alive timer fired at that moment would.
        return None if (connection, request) == (0, 1) else OK

    async with Server(respond) as server:
        client = openai_client(server.port, KeepAliveTransport(10))
        await chat(client)
        await chat(client)
        await client.close()
    assert server.connections == 2


async def test_hang_up_on_a_new_connection_is_a_connection_error():
    async def respond(connection: int, request: int) -> None:
        return None

    async with Server(respond) as server:
        client = openai_client(server.port, KeepAliveTransport(10))
        with pytest.raises(openai.APIConnectionError) as caught:
            await chat(client)
        await client.close()
    assert error_kind(caught.value) == "connection_error"
    assert server.connections == 1, "a request on a new connection is never sent twice"


async def test_no_answer_in_time_is_a_timeout_and_frees_the_connection():
    async with Server(first_connection_hangs) as server:
        transport = KeepAliveTransport(1)
        client = openai_client(server.port, transport, timeout=0.3)
        with pytest.raises(openai.APITimeoutError) as caught:
            await chat(client)
        assert error_kind(caught.value) == "timeout"
        assert (await chat(client)).status_code == 200, "the only slot was given back"
        await client.close()


async def test_refused_connection_is_a_connection_error():
    async with Server(ok) as server:
        port = server.port
    client = openai_client(port, KeepAliveTransport(10))
    with pytest.raises(openai.APIConnectionError) as caught:
        await chat(client)
    await client.close()
    assert error_kind(caught.value) == "connection_error"


async def test_malformed_response_is_a_connection_error():
    async def respond(connection: int, request: int) -> bytes:
        return b"HTTP/1.1 abc\r\n\r\n"

    async with Server(respond) as server:
        client = openai_client(server.port, KeepAliveTransport(10))
        with pytest.raises(openai.APIConnectionError):
            await chat(client)
        await client.close()


async def test_error_statuses_become_the_packages_typed_errors():
    async def respond(connection: int, request: int) -> bytes:
        body = b'{"error": {"message": "slow down", "type": "rate_limit"}}'
        return b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 2\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)

    async with Server(respond) as server:
        client = openai_client(server.port, KeepAliveTransport(10))
        with pytest.raises(openai.RateLimitError) as caught:
            await chat(client)
        await client.close()
    assert caught.value.response.headers["retry-after"] == "2"


async def test_connections_stay_within_the_limit():
    async def respond(connection: int, request: int) -> bytes:
        await asyncio.sleep(0.05)
        return OK

    async with Server(respond) as server:
        client = openai_client(server.port, KeepAliveTransport(2))
        results = await asyncio.gather(*(chat(client) for _ in range(8)))
        await client.close()
    assert all(r.status_code == 200 for r in results)
    assert server.peak_open <= 2


async def test_a_cancelled_call_gives_its_connection_slot_back():
    async with Server(first_connection_hangs) as server:
        transport = KeepAliveTransport(1)
        client = openai_client(server.port, transport)
        call = asyncio.create_task(chat(client))
        await asyncio.sleep(0.2)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert (await chat(client)).status_code == 200
        await client.close()
    assert transport.pool.open == 0


async def test_https(tmp_path: Path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(cert))

    server = Server(ok)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=server_tls)
    port = listener.sockets[0].getsockname()[1]
    try:
        client = openai_client(port, KeepAliveTransport(10, ssl_context=client_tls), scheme="https")
        assert (await chat(client)).json() == json.loads(BODY)
        assert (await chat(client)).status_code == 200
        await client.close()
    finally:
        listener.close()
    assert server.connections == 1
