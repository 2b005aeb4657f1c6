"""A real HTTP server on loopback that receives webhooks as a partner would: it records each
request (headers and raw body) and answers what the test says; it can go down and come back
on the same port."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int

    @property
    def event(self) -> dict:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: list[int] = []  # answered in turn, then ``status``
        self.status = 204
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> None:
        import time

        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.status
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body, time.monotonic(),
                                                      status))
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: the port refuses connections until :meth:`start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self) -> list[dict]:
        """Every event answered 2xx, in arrival order."""
        with self.lock:
            return [r.event for r in self.received if 200 <= r.status < 300]


class TricklingReceiver:
    """A receiver that reads the request, then answers one byte every ``every`` seconds, never finishing.

    Each per-phase timeout of an HTTP client is reset by every byte, so only a deadline on the
    whole attempt ends it. Records each request's body and when the client hung up.
    """

    def __init__(self, every: float = 0.1) -> None:
        import socket

        self.every = every
        self.bodies: list[bytes] = []
        self.opened: list[float] = []
        self.closed: list[float] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.1)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def events(self) -> list[dict]:
        with self.lock:
            return [json.loads(b) for b in self.bodies]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        import socket
        import time

        with self.lock:
            self.opened.append(time.monotonic())
        data = b""
        with conn:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                body += conn.recv(65536)
            with self.lock:
                self.bodies.append(body)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
            conn.settimeout(self.every)
            for byte in answer:
                if self._stop.is_set():
                    break
                try:
                    if conn.recv(1) == b"":
                        break  # the client hung up
                except socket.timeout:
                    pass
                except OSError:
                    break
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    break
        with self.lock:
            self.closed.append(time.monotonic())

    def stop(self) -> None:
        self._stop.set()
        self._server.close()
