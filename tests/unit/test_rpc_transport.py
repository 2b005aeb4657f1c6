"""The verifier's JSON-RPC transport against a real HTTP server on loopback that misbehaves on request.

The body of each request says how the server answers (``plain``, ``chunked``, ``close``,
``error``, ``huge``, ``stall``); the server records the connections and requests it saw.
"""

from __future__ import annotations

import asyncio
import base64

import pytest

from services.verifier.rpc_transport import JsonRpcTransport, TransportError


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.open = 0
        self.max_open = 0
        self.requests: list[tuple[bytes, dict[str, str], bytes]] = []
        self.server: asyncio.AbstractServer | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> "Server":
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        for writer in self.writers:
            writer.close()
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self.writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *fields = head.decode("latin-1").split("\r\n")
                headers = {k.lower(): v.strip() for k, _, v in (f.partition(":") for f in fields if f)}
                body = await reader.readexactly(int(headers["content-length"]))
                self.requests.append((line.encode(), headers, body))
                mode = body.decode()
                if mode == "stall":
                    await asyncio.sleep(3600)
                elif mode == "chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 b"6\r\n{\"a\": \r\n2\r\n1}\r\n0\r\n\r\n")
                elif mode == "error":
                    writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\noops")
                elif mode == "huge":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
                elif mode == "close":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    await writer.drain()
                    writer.close()
                    return
                elif mode == "drop":
                    writer.close()  # no answer at all
                    return
                else:
                    answer = b"echo:" + body
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer)
                await writer.drain()
        finally:
            self.open -= 1

    async def close_idle(self) -> None:
        """Close every connection from the server's side, as an endpoint's idle timeout does."""
        for writer in self.writers:
            writer.close()
        await asyncio.sleep(0.05)


def run(coro):
    return asyncio.run(coro)


def test_requests_go_over_one_kept_alive_connection_with_the_right_head():
    async def main():
        async with Server() as server:
            transport = JsonRpcTransport(server.url + "/rpc?key=1", timeout=2)
            answers = [await transport.post(b"one"), await transport.post(b"two")]
            await transport.close()
            return server, answers, server.url

    server, answers, url = run(main())
    assert answers == [b"echo:one", b"echo:two"]
    assert server.connections == 1
    line, headers, _ = server.requests[0]
    assert line == b"POST /rpc?key=1 HTTP/1.1"
    assert headers["host"] == url.removeprefix("http://")
    assert headers["content-type"] == "application/json" and headers["content-length"] == "3"
    assert "authorization" not in headers


def test_basic_auth_comes_from_the_url():
    async def main():
        async with Server() as server:
            port = server.url.rsplit(":", 1)[1]
            transport = JsonRpcTransport(f"http://user:p%40ss@127.0.0.1:{port}/", timeout=2)
            await transport.post(b"x")
            await transport.close()
            return server

    server = run(main())
    assert server.requests[0][1]["authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()


def test_a_chunked_answer_is_read_whole():
    async def main():
        async with Server() as server:
            transport = JsonRpcTransport(server.url, timeout=2)
            answer = await transport.post(b"chunked")
            again = await transport.post(b"after")  # the connection is still in step
            await transport.close()
            return server, answer, again

    server, answer, again = run(main())
    assert answer == b'{"a": 1}' and again == b"echo:after" and server.connections == 1


def test_a_connection_the_endpoint_closed_while_idle_is_replaced():
    async def main():
        async with Server() as server:
            transport = JsonRpcTransport(server.url, timeout=2)
            await transport.post(b"first")
            await server.close_idle()
            answer = await transport.post(b"second")
            await transport.close()
            return server, answer

    server, answer = run(main())
    assert answer == b"echo:second" and server.connections == 2


def test_connection_close_is_honoured():
    async def main():
        async with Server() as server:
            transport = JsonRpcTransport(server.url, timeout=2)
            answers = [await transport.post(b"close"), await transport.post(b"next")]
            await transport.close()
            return server, answers

    server, answers = run(main())
    assert answers == [b"ok", b"echo:next"] and server.connections == 2


@pytest.mark.parametrize("mode,message", [("error", "HTTP 500"), ("huge", "larger than 1000 bytes"),
                                          ("drop", "closed the connection"), ("stall", "no answer within 0.3s")])
def test_failures_are_transport_errors_and_the_next_request_works(mode, message):
    async def main():
        async with Server() as server:
            transport = JsonRpcTransport(server.url, timeout=0.3, max_bytes=1000)
            with pytest.raises(TransportError, match=message):
                await transport.post(mode.encode())
            answer = await transport.post(b"fine")
            await transport.close()
            return answer

    assert run(main()) == b"echo:fine"


def test_an_unreachable_endpoint_is_a_transport_error():
    async def main():
        async with Server() as server:
            url = server.url
        transport = JsonRpcTransport(url, timeout=1)  # the server is gone: nothing listens there
        with pytest.raises(TransportError, match="could not be reached"):
            await transport.post(b"x")

    run(main())


def test_no_more_connections_than_the_limit():
    async def main():
        async with Server() as server:
            transport = JsonRpcTransport(server.url, timeout=2, limit=2)
            answers = await asyncio.gather(*(transport.post(b"%d" % i) for i in range(8)))
            await transport.close()
            return server, answers

    server, answers = run(main())
    assert sorted(answers) == sorted(b"echo:%d" % i for i in range(8))
    assert server.max_open <= 2 and server.connections <= 2


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/", "127.0.0.1:8545", "http:///path"])
def test_only_http_urls_are_taken(url):
    with pytest.raises(ValueError):
        JsonRpcTransport(url, timeout=1)


def test_a_transport_used_from_a_second_event_loop_opens_new_connections():
    # The CLI runs one event loop per command; connections of a closed loop are dropped, not reused.
    server_loop = asyncio.new_event_loop()
    import threading

    server = Server()
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(server_loop)
        server_loop.run_until_complete(server.__aenter__())
        ready.set()
        server_loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    ready.wait(5)
    try:
        transport = JsonRpcTransport(server.url, timeout=2)
        assert run(transport.post(b"a")) == b"echo:a"
        assert run(transport.post(b"b")) == b"echo:b"  # a new loop: the old one is closed
        assert server.connections == 2
    finally:
        server_loop.call_soon_threadsafe(server_loop.stop)
        thread.join(5)
