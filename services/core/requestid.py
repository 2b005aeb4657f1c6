"""The request id that follows one piece of work across services (docs/operations.md).

An incoming ``X-Request-ID`` is kept when it is short and plain (so it can go into logs and
headers as is); anything else is replaced by a new random id. The id lives in a contextvar
for the request (FastAPI copies it into the threads that run sync endpoints), is returned
in the response, written into every log line, and sent on calls to our own services.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

import httpx

HEADER = "X-Request-ID"
MAX_LENGTH = 128
# Letters, digits and a few separators: nothing that could break a header, a log line or a query.
_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,%d}" % (MAX_LENGTH - 1))

_current: ContextVar[str | None] = ContextVar("microcred_request_id", default=None)


def new() -> str:
    return uuid.uuid4().hex


def accept(value: str | None) -> str:
    """``value`` if it is a safe request id, else a new one."""
    if value and _SAFE.fullmatch(value):
        return value
    return new()


def current() -> str | None:
    return _current.get()


def bind(value: str | None):
    """Set the id for this context; returns the token for :func:`reset`."""
    return _current.set(value)


def reset(token) -> None:
    _current.reset(token)


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    u = httpx.URL(str(url))
    return u.scheme, u.host, u.port


def httpx_hooks(*base_urls: str | None, asynchronous: bool = False) -> dict:
    """``event_hooks`` for an httpx client: the current request id goes to ``base_urls`` only.

    Only our own services get it: the same client may also fetch a pasted, hostile URL or
    talk to a JSON-RPC provider, which have no use for our ids.
    """
    origins = frozenset(_origin(u) for u in base_urls if u)

    def add(request: httpx.Request) -> None:
        rid = _current.get()
        if rid and HEADER not in request.headers and _origin(request.url) in origins:
            request.headers[HEADER] = rid

    if not asynchronous:
        return {"request": [add]}

    async def add_async(request: httpx.Request) -> None:
        add(request)

    return {"request": [add_async]}
