"""POST to one JSON-RPC endpoint over kept-alive HTTP/1.1 connections: the verifier's chain reads.

Every cold verification makes one such request (services/verifier/chainview.py), and a
general-purpose client spends more CPU on it than the request itself: aiohttp builds a request
object, a header multidict, timers and a stream reader per call, about a fifth of a cold
verification's CPU (docs/verifier.md, "Where a cold verification's time goes"). This one writes
the request in a single buffer and parses the answer with ``httptools`` (llhttp, the parser
uvicorn serves with), which handles Content-Length, chunked bodies and keep-alive.

What it keeps of a proper client: a bounded pool (``limit`` connections), a deadline per
request (``timeout``, connecting included), a size limit on the answer, TLS for ``https``
endpoints, basic auth from the URL's user info, and one retry on a fresh connection when a
kept-alive one turns out closed before it answered (a JSON-RPC read is safe to repeat).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from urllib.parse import unquote, urlsplit

import httptools


class TransportError(Exception):
    """The endpoint could not be asked or did not answer properly; the message says how."""


class _StaleConnection(TransportError):
    """A kept-alive connection closed before any byte of the answer came: safe to retry."""


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection; one request at a time."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.chunks: list[bytes] = []
        self.size = 0
        self.answered_bytes = False  # any byte of the current answer
        self.reusable = False
        self.closed = False

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.answered_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # pragma: no cover - never asked for
            self._fail(TransportError("the endpoint switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(TransportError(f"the endpoint's answer is not HTTP ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        # (An answer delimited by the end of the connection, HTTP/1.0 style, is not taken: JSON-RPC
        # endpoints send a length or chunks.)
        if self.waiter is not None and not self.waiter.done():
            error = TransportError("the endpoint closed the connection before answering") if self.answered_bytes \
                else _StaleConnection("the endpoint closed the connection")
            self.waiter.set_exception(error)

    # -- httptools callbacks ------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.chunks, self.size = [], 0

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self.max_bytes:
            self._fail(TransportError(f"the answer is larger than {self.max_bytes} bytes"))
            return
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.waiter is None or self.waiter.done():
            self._fail(TransportError("the endpoint answered what was not asked"))
            return
        self.reusable = self.parser.should_keep_alive()
        self.waiter.set_result((self.parser.get_status_code(), b"".join(self.chunks)))

    # -- ours -----------------------------------------------------------------------------
    def _fail(self, error: TransportError) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        self.reusable = False
        if self.transport is not None:
            try:
                self.transport.close()
            except RuntimeError:  # its event loop is closed already: so is the socket's use
                pass

    async def send(self, request: bytes) -> tuple[int, bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        self.answered_bytes = False
        self.reusable = False
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None


class JsonRpcTransport:
    """``await post(body)`` → the answer's bytes (status 200), else :class:`TransportError`."""

    def __init__(self, url: str, *, timeout: float, limit: int = 32, max_bytes: int = 4 * 1024 * 1024) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.timeout = timeout
        self.max_bytes = max_bytes
        host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        if ":" in parts.hostname:  # an IPv6 literal goes in brackets
            host_header = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
        head = [f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                f"Host: {host_header}", "Content-Type: application/json", "Connection: keep-alive"]
        if parts.username is not None:
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            head.append("Authorization: Basic " + base64.b64encode(token).decode())
        self._head = ("\r\n".join(head) + "\r\nContent-Length: ").encode("latin-1")
        self.limit = limit
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def post(self, body: bytes) -> bytes:
        request = self._head + str(len(body)).encode() + b"\r\n\r\n" + body
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # connections and the pool belong to one event loop (a CLI runs several)
            await self.close()
            self._loop, self._slots = loop, asyncio.Semaphore(self.limit)
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    status, answer = await self._send(request)
            except TimeoutError:
                raise TransportError(f"no answer within {self.timeout:g}s") from None
        if status != 200:
            raise TransportError(f"the endpoint answered HTTP {status}")
        return answer

    async def _send(self, request: bytes) -> tuple[int, bytes]:
        while self._idle:
            conn = self._idle.pop()
            if conn.closed:
                continue
            try:
                return await self._use(conn, request)
            except _StaleConnection:
                continue  # closed by the endpoint while idle: ask again on another one
        return await self._use(await self._connect(), request)

    async def _use(self, conn: _Connection, request: bytes) -> tuple[int, bytes]:
        try:
            result = await conn.send(request)
        except BaseException:
            conn.close()  # its state is unknown (cancelled, timed out, failed)
            raise
        if conn.reusable and not conn.closed:
            self._idle.append(conn)
        else:
            conn.close()
        return result

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await loop.create_connection(lambda: _Connection(self.max_bytes), self.host, self.port,
                                                   ssl=self.ssl)
        except OSError as exc:
            raise TransportError(f"the endpoint could not be reached ({type(exc).__name__})") from None
        return conn

    async def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
