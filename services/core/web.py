"""What every FastAPI app here shares: the JSON error shape, body limits, safe JSON bodies, token checks."""

from __future__ import annotations

import email.message
import hmac
import logging
from functools import lru_cache

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core import safejson
from services.core.errors import AppError, PayloadTooLarge, Unauthorized

# The scope key under which SafeJsonBodies leaves the body it parsed (the safe value itself).
JSON_BODY = "microcred.json_body"

# FastAPI's own OpenTelemetry, off: the services export Prometheus metrics and JSON logs with a
# request id (docs/operations.md). Left on, it asks OpenTelemetry on every request whether a
# provider is configured (three environment lookups), a cost on the verifier's hot route.
NO_NATIVE_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}

log = logging.getLogger("microcred.web")


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": message}}


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body("invalid_request", _describe_validation(exc)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body("internal_error", "internal error"), status_code=500)


class BodySizeLimit:
    """Refuses a request body over ``max_bytes`` with 413 before the app reads it all.

    Checks Content-Length up front and counts streamed chunks too (chunked uploads).
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._refuse(send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise PayloadTooLarge(f"request body is larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, send: Send) -> None:
        response = JSONResponse(
            error_body("payload_too_large", f"request body is larger than {self.max_bytes} bytes"), status_code=413)
        await response({"type": "http"}, _never_receive, send)


@lru_cache(maxsize=256)  # a handful of distinct values in practice; the email parser is not cheap
def is_json_content_type(value: str | None) -> bool:
    """The rule FastAPI uses to decide a body is JSON (``application/json``, ``application/*+json``)."""
    if not value:
        return False
    message = email.message.Message()
    message["content-type"] = value
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


class SafeJsonBodies:
    """Every JSON request body is parsed with :mod:`services.core.safejson` before the app sees it.

    A body that is not JSON, or JSON beyond the limits (depth, numbers, lone surrogates, value
    count), is answered 422 ``invalid_json`` here, so no route — and no stdlib decoder on the
    way to it — ever meets it. A body that passes is handed on byte for byte: FastAPI parses it
    again, which is then safe (bounded depth and size). Bodies are JSON when their
    ``Content-Type`` says so (FastAPI's own rule) or when they have none. Install it *inside*
    :class:`BodySizeLimit` (``install_request_guards`` does), whose 413 it passes on.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int = safejson.MAX_DEPTH,
                 max_values: int = safejson.MAX_VALUES) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.max_values = max_values

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._json_body(scope):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return  # the client left before sending its body: nobody to answer
                body += message.get("body", b"")
                if len(body) > self.max_bytes:
                    raise PayloadTooLarge(f"request body is larger than {self.max_bytes} bytes")
                if not message.get("more_body", False):
                    break
        except PayloadTooLarge as exc:
            await _answer(send, 413, "payload_too_large", exc.message)
            return
        data = bytes(body)
        if data:
            try:
                value = safejson.loads(data, max_bytes=self.max_bytes, max_depth=self.max_depth,
                                       max_values=self.max_values)
            except safejson.UnsafeJSON as exc:
                await _answer(send, 422, "invalid_json", f"request body: {exc.message}")
                return
            scope[JSON_BODY] = value  # for a route that takes the parsed body as it is (services/verifier/pasted.py)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _json_body(scope: Scope) -> bool:
        content_type = None
        has_body = False
        for name, value in scope.get("headers", ()):
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"", b"0")):
                has_body = True
        # HTTP/1.1: no Content-Length and no Transfer-Encoding means no body (every plain GET).
        return has_body and (content_type is None or is_json_content_type(content_type))


def install_request_guards(app: FastAPI, max_bytes: int) -> None:
    """The body-size limit (413) and, inside it, safe JSON bodies (422) — in that order.

    The value count scales with a raised body limit (one value per 10 bytes, at least
    ``safejson.MAX_VALUES``), so an issuer configured for larger batches still takes them.
    """
    app.add_middleware(SafeJsonBodies, max_bytes=max_bytes, max_values=max(safejson.MAX_VALUES, max_bytes // 10))
    app.add_middleware(BodySizeLimit, max_bytes=max_bytes)


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    response = JSONResponse(error_body(code, message), status_code=status)
    await response({"type": "http"}, _never_receive, send)


async def _never_receive() -> Message:  # pragma: no cover - a response never reads
    return {"type": "http.disconnect"}


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_token(request: Request, expected: str, what: str) -> None:
    """Constant-time comparison of the bearer token with ``expected``."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized(f"missing {what}: send 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized(f"wrong {what}")
