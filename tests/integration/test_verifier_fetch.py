"""Fetching pasted URLs from a real local HTTP server: redirects re-checked, size and time capped."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from services.core import urlsafety
from services.verifier.fetch import FetchRefused, fetch_json


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        port = self.server.server_address[1]
        routes = {
            "/ok": (200, json.dumps({"hello": "world"}).encode()),
            "/big": (200, b'{"x": "' + b"a" * 200_000 + b'"}'),
            "/list": (200, b"[1, 2]"),
            "/html": (200, b"<html></html>"),
        }
        if self.path == "/to-private":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{port}/ok")  # a host that is not trusted
            self.end_headers()
            return
        if self.path == "/to-ok":
            self.send_response(302)
            self.send_header("Location", "/ok")
            self.end_headers()
            return
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        if self.path == "/host":
            body = json.dumps({"host": self.headers.get("Host")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path == "/slow":
            time.sleep(2)
        status, body = routes.get(self.path, (404, b"{}"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()


def _fetch(url: str, **kw):
    async def run():
        async with httpx.AsyncClient() as client:
            return await fetch_json(client, url, trusted_hosts=kw.get("trusted", {"localhost"}),
                                    max_bytes=kw.get("max_bytes", 100_000), timeout=kw.get("timeout", 5.0))
    return asyncio.run(run())


def test_a_trusted_host_is_fetched_and_a_relative_redirect_followed(server):
    assert _fetch(f"{server}/ok") == {"hello": "world"}
    assert _fetch(f"{server}/to-ok") == {"hello": "world"}


def test_an_untrusted_local_host_is_refused(server):
    with pytest.raises(FetchRefused, match="private or local"):
        _fetch(f"{server}/ok", trusted=set())


def test_a_redirect_to_a_private_address_is_refused(server):
    with pytest.raises(FetchRefused, match="private or local"):
        _fetch(f"{server}/to-private")


@pytest.mark.parametrize("path,why", [("/big", "larger than"), ("/list", "JSON object"), ("/html", "did not return JSON"),
                                      ("/loop", "redirected more than"), ("/missing", "answered 404")])
def test_bad_answers_are_refused_with_a_reason(server, path, why):
    with pytest.raises(FetchRefused, match=why):
        _fetch(f"{server}{path}")


def test_a_slow_host_times_out(server):
    with pytest.raises(FetchRefused, match="did not answer"):
        _fetch(f"{server}/slow", timeout=0.5)


def test_an_untrusted_host_is_reached_at_the_checked_address_under_its_own_name(server, monkeypatch):
    """DNS pinning: the connection goes to the address that passed the check; Host keeps the name."""
    port = server.rsplit(":", 1)[1]
    resolved = []

    async def one_answer(host, port_):
        resolved.append(host)
        return ["127.0.0.1"]  # stands in for a public address: is_public is relaxed below

    monkeypatch.setattr(urlsafety, "_addresses", one_answer)
    monkeypatch.setattr(urlsafety, "is_public", lambda address: True)
    assert _fetch(f"http://badges.example:{port}/host", trusted=set()) == {"host": f"badges.example:{port}"}
    assert resolved == ["badges.example"]  # resolved once, by us; httpx never looked the name up
