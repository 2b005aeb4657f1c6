"""The verifier's FastAPI app: ``uvicorn services.verifier.app:create_app --factory``.

Stateless: it owns no data, so any number of replicas can run behind a load balancer.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.web import BodySizeLimit, install_error_handlers
from services.verifier.checker import build_checker
from services.verifier.endpoints import RateLimiter, router
from services.verifier.settings import VerifierSettings, get_settings

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data: https:; form-action 'self'; "
       "base-uri 'none'; frame-ancestors {frame}")


class SecurityHeaders:
    """Strict headers everywhere; only a response marked embeddable may be framed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in ("/docs", "/redoc") or scope["path"].startswith("/docs/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-embeddable"]
                embeddable = any(k == b"x-embeddable" for k, _ in message.get("headers", []))
                headers += [(b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"strict-origin-when-cross-origin")]
                if not docs:  # Swagger UI needs its own scripts
                    headers.append((b"content-security-policy",
                                    CSP.format(frame="*" if embeddable else "'none'").encode()))
                if not embeddable:
                    headers.append((b"x-frame-options", b"DENY"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: VerifierSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20)
        async with httpx.AsyncClient(timeout=settings.fetch_timeout, limits=limits,
                                     headers={"User-Agent": "microcred-verifier/0.1"}) as http:
            app.state.settings = settings
            app.state.http = http
            app.state.checker = build_checker(settings, http)
            app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
            yield

    app = FastAPI(title="microcred verifier", version="0.1.0", lifespan=lifespan,
                  description="Verify Open Badges 3.0 credentials: signature, issuer registry, blockchain anchor, "
                              "revocation and expiry, in one report.")
    install_error_handlers(app)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(BodySizeLimit, max_bytes=min(settings.max_body_bytes, 1024 * 1024))
    app.add_middleware(SecurityHeaders)
    return app
