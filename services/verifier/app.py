"""The verifier's FastAPI app: ``uvicorn services.verifier.app:create_app --factory`` (default :8000).

Stateless: it owns no data, so any number of replicas can run behind a load balancer
(start uvicorn with ``--forwarded-allow-ips`` set to the balancer so that the rate limit
sees the real client address).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core import metrics, requestid
from services.core.errors import AppError
from services.core.web import NO_NATIVE_TELEMETRY, error_body, install_error_handlers, install_request_guards
from services.verifier.badge import ImageSource
from services.verifier.endpoints import NO_CACHE, router, templates
from services.verifier import oembed, pasted, profiles, status_link
from services.verifier.metrics import VerifierMetrics, instrument
from services.verifier.pasted import PastedCredentials
from services.verifier import vcapi
from services.verifier.ratelimit import RateLimiter
from services.verifier.settings import VerifierSettings, get_settings

STATIC = Path(__file__).parent / "static"
# No inline script anywhere (the one script is a file of ours); inline SVG needs no style-src exception.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
       "form-action 'self'; base-uri 'none'; frame-ancestors {frame}")
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")


class SecurityHeaders:
    """Strict headers on every response; only a response marked ``X-Embeddable`` may be framed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.strict = CSP.format(frame="'none'").encode()
        self.framable = CSP.format(frame="*").encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        docs = path in DOCS_PATHS  # Swagger UI and ReDoc load their own scripts
        static = path.startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = message.get("headers", [])
                embeddable = any(k == b"x-embeddable" for k, _ in raw)
                headers = [(k, v) for k, v in raw if k != b"x-embeddable"]
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"strict-origin-when-cross-origin"),
                            (b"cross-origin-opener-policy", b"same-origin")]
                if not docs:
                    headers.append((b"content-security-policy", self.framable if embeddable else self.strict))
                if not embeddable:
                    headers.append((b"x-frame-options", b"DENY"))
                if static:
                    headers.append((b"cache-control", b"public, max-age=3600"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class HeadAsGet:
    """Answer ``HEAD`` wherever ``GET`` is answered (link previewers and crawlers send it first).

    The app sees a copy of the scope saying GET; the server, which still holds HEAD, sends
    the headers without the body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)


_TITLES = {404: ("Nothing here", "There is no credential at this address. Check that the link is complete."),
           429: ("Too many requests", "Please wait a moment and try again."),
           503: ("Cannot check right now", "A service this check depends on did not answer. Nothing was decided; "
                                            "please try again in a moment.")}


def _wants_page(request: Request) -> bool:
    """A browser navigating (HTML first in ``Accept``), not an API client."""
    accept = request.headers.get("accept", "")
    return request.method == "GET" and "text/html" in accept.split(",")[0] and not request.url.path.startswith("/api/")


def install_page_errors(app: FastAPI) -> None:
    """The JSON error shape for API clients, a readable page for browsers (e.g. an unknown credential)."""

    def render(request: Request, status: int, code: str, message: str, headers: dict | None = None):
        if _wants_page(request):
            title, sentence = _TITLES.get(status, ("Something went wrong", message))
            if status == 404 and request.url.path.startswith("/p/"):
                sentence = "There is no profile at this address: the link is incomplete, or its owner withdrew it."
            return templates.TemplateResponse(request, "error.html", {"title": title, "message": sentence},
                                              status_code=status, headers={**NO_CACHE, **(headers or {})})
        from fastapi.responses import JSONResponse

        return JSONResponse(error_body(code, message), status_code=status, headers=headers)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError):
        return render(request, exc.status_code, exc.code, exc.message, getattr(exc, "headers", None))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return render(request, exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        # A malformed credential id in a browser is just "nothing here"; API clients get the details.
        if _wants_page(request):
            return render(request, 404, "not_found", "not found")
        from services.core.web import _describe_validation

        return render(request, 422, "invalid_request", _describe_validation(exc))


def create_app(settings: VerifierSettings | None = None, *, checker: Any = None) -> FastAPI:
    """The app; ``checker`` replaces the real one (tests of the pages with a fake report)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        # The request id goes along to our issuer and registry only (never to a pasted URL).
        hooks = requestid.httpx_hooks(settings.issuer_url, settings.registry_url, asynchronous=True)
        async with httpx.AsyncClient(timeout=settings.fetch_timeout, limits=limits, event_hooks=hooks,
                                     headers={"User-Agent": "microcred-verifier/0.1"}) as http:
            app.state.settings = settings
            app.state.http = http
            if checker is None:
                from services.verifier.checker import build_checker  # the I/O side, wired once here

                app.state.checker = build_checker(settings, http)
            else:
                app.state.checker = checker
            instrument(app.state.checker, app.state.verifier_metrics)  # outcomes per verdict and check
            app.state.images = ImageSource(http, settings.issuer_url)
            app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
            yield
            chain = getattr(app.state.checker, "chain", None)
            if chain is not None and hasattr(chain, "aclose"):
                await chain.aclose()  # the JSON-RPC session (services/verifier/chainview.py)

    app = FastAPI(title="microcred verifier", version="0.1.0", lifespan=lifespan, telemetry=NO_NATIVE_TELEMETRY,
                  description="Verify Open Badges 3.0 credentials — issuer signature, on-chain issuer registry, "
                              "blockchain anchor, revocation and expiry — in one report (docs/verifier.md).")
    install_error_handlers(app)
    install_page_errors(app)
    app.include_router(router)
    app.include_router(status_link.router)  # GET /c/{id}/status
    app.include_router(profiles.router)  # GET /p/{id}, /p/{id}/embed: learners' profiles
    app.include_router(oembed.router)  # GET /oembed for credential and profile URLs
    app.include_router(vcapi.router)  # the W3C VC-API routes (docs/vc-api.md)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The hot route's common case, inside the guards whose parsed body it takes (services/verifier/pasted.py).
    app.add_middleware(PastedCredentials, state=app.state, route=next(
        r for r in router.routes if getattr(r, "path", None) == pasted.PATH and "POST" in getattr(r, "methods", ())))
    install_request_guards(app, max_bytes=min(settings.max_body_bytes, 1024 * 1024))  # 413, then safe JSON (422)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(HeadAsGet)
    # JSON logs, request ids, /metrics (docs/operations.md); last, so that it sees every answer.
    app.state.verifier_metrics = VerifierMetrics(metrics.install(app, "verifier", settings))
    return app
