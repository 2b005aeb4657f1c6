"""``POST /api/v1/verify`` with a pasted credential, answered below FastAPI's routing.

This is the hot route of the verify API (docs/verifier.md, "Where a cold verification's time
goes"): an HR system posts ``{"credential": {...}}`` and wants the report. FastAPI would route
the request, parse the body a second time with the stdlib decoder, validate it into
``VerifyRequest`` and solve the route's parameters — about as long as the signature check.

So this middleware, installed inside the request guards, takes exactly that one shape and does
what the declared route (``endpoints.verify``) does for it, with the body the guards already
parsed under their limits (``services.core.web.JSON_BODY``): the rate limit, the checker, the
report as orjson bytes with ``Cache-Control: no-store``. Everything else — a URL to fetch, a
body of any other shape, a client over its rate — goes on to the declared route, which stays the
one place that answers errors; the two give the same report for the same credential (tested).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from services.core.web import JSON_BODY

PATH = "/api/v1/verify"
_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


def pasted_credential(scope: Scope) -> dict | None:
    """The credential of a ``{"credential": {...}}`` body (parsed by the guards), else None."""
    body = scope.get(JSON_BODY)
    if type(body) is not dict or len(body) != 1:
        return None
    credential = body.get("credential")
    return credential if type(credential) is dict else None


class PastedCredentials:
    """Answers ``POST /api/v1/verify {"credential": {...}}``; passes every other request on."""

    def __init__(self, app: ASGIApp, state: Any, route: Any) -> None:
        self.app = app
        self.state = state  # the app's state: its checker and rate limiter, set at startup
        # The declared route, for the metrics' route label (services.core.metrics.route_template).
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        credential = pasted_credential(scope)
        client = scope.get("client")
        # Over the limit: the declared route takes the request, refuses it again and answers 429.
        if credential is None or not self.state.rate_limiter.take(client[0] if client else "unknown"):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        report = await self.state.checker.verify_document(credential)
        body = orjson.dumps(report.to_json())
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), *_HEADERS]})
        await send({"type": "http.response.body", "body": body})
