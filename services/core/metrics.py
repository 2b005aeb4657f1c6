"""Prometheus metrics, the request id and the request log line for every process (docs/operations.md).

``install(app, service, settings, collectors)`` gives a FastAPI app:

* one outermost ASGI middleware that accepts or makes the request id, returns it as
  ``X-Request-ID``, times the request into ``microcred_http_request_duration_seconds``
  (labels: method, the *route template* — never the raw path, whose ids would make a series
  per credential — and the status class) and writes one log line per request;
* ``GET /metrics`` in the Prometheus text format: the app's own registry (HTTP metrics and
  the service's collectors, which read the database at scrape time) followed by the
  process-wide default registry (process, GC, and what a worker thread in this process
  counts);
* JSON logs (services.core.logs).

``/metrics`` tells about load, queues and tenants, so it is not public: with
``MICROCRED_METRICS_TOKEN`` set it wants ``Authorization: Bearer <token>``; without, only
loopback clients are answered. Processes without an HTTP API (the registry worker, the
issuer's outbox relay) serve the same on a port of their own when one is set
(:func:`serve_worker_metrics`), under the same rule.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core import logs, requestid
from services.core.errors import Forbidden, Unauthorized
from services.core.web import error_body

log = logging.getLogger("microcred.http")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The classic text format, which every Prometheus reads (two registries in a row: not OpenMetrics).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
UNMATCHED = "<unmatched>"
CLIENT_GONE = 499  # nginx's "client closed request": a request cancelled before its answer  # 404s: one series for every path no route knows
# Scrapes and probes are logged at debug: an operator's tools would drown the request log.
QUIET_ROUTES = frozenset({"/metrics", "/api/v1/health"})


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.duration = Histogram("microcred_http_request_duration_seconds",
                                  "Time from request to the end of the response, by route template.",
                                  ("method", "route", "status"), buckets=LATENCY_BUCKETS, registry=registry)
        self.in_progress = Gauge("microcred_http_requests_in_progress", "Requests being served now.",
                                 registry=registry)


def route_template(router, scope: Scope) -> str:
    """The path template of the route that answered (``/c/{credential_id}``), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # Mounts, 404s, and scopes a middleware copied before routing: match again.
    if scope.get("method") == "HEAD":  # answered wherever GET is (services/verifier/app.py)
        scope = {**scope, "method": "GET"}
    return _find(router.routes, scope) or UNMATCHED


def _find(routes, scope: Scope) -> str | None:
    """As the router does: a full match first, else the first partial one (a 405)."""
    partial = None
    for candidate in routes:
        match, _ = candidate.matches(scope)
        if match == Match.NONE:
            continue
        inner = getattr(candidate, "original_router", None)  # FastAPI's included routers
        path = _find(inner.routes, scope) if inner is not None else getattr(candidate, "path", None)
        if not isinstance(path, str) or not path:
            continue
        if match == Match.FULL:
            return path
        partial = partial or path
    return partial


class Observability:
    """Request id, latency histogram and the request log line; install it outermost."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, router) -> None:
        self.app = app
        self.metrics = metrics
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        rid = requestid.accept(incoming)
        token = requestid.bind(rid)
        status = 500
        started = False
        begun = time.perf_counter()
        self.metrics.in_progress.inc()

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", rid.encode())]}
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # The app's own 500 handler sits outside every middleware: answer here so that the
            # caller gets the id to quote; the exception goes on to be logged as before.
            failed = True
            if not started:
                response = JSONResponse(error_body("internal_error", "internal error"), status_code=500)
                await response(scope, receive, send_with_id)
            raise  # the request id stays bound: the error handler's line carries it
        except BaseException:  # cancelled: the client went away before an answer
            if not started:
                status = CLIENT_GONE
            raise
        finally:
            self._record(scope, status, begun)
            if not failed:
                requestid.reset(token)

    def _record(self, scope: Scope, status: int, begun: float) -> None:
        elapsed = time.perf_counter() - begun
        self.metrics.in_progress.dec()
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = route_template(self.router, scope)
        self.metrics.duration.labels(method, route, f"{status // 100}xx").observe(elapsed)
        level = logging.DEBUG if route in QUIET_ROUTES and status < 400 else \
            logging.ERROR if status >= 500 else logging.INFO
        log.log(level, "%s %s %d", method, route, status,
                extra={"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 2)})


# -- who may read /metrics ---------------------------------------------------------------------
def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_access(token: str | None, client_host: str | None, authorization: str | None) -> None:
    """Raise unless the caller may read metrics: the right bearer token, or a loopback client when none is set."""
    if token:
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise Unauthorized("metrics need 'Authorization: Bearer <MICROCRED_METRICS_TOKEN>'")
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized("wrong metrics token")
        return
    if not _loopback(client_host):
        raise Forbidden("metrics are served to loopback clients only; set MICROCRED_METRICS_TOKEN to scrape "
                        "from elsewhere", code="metrics_forbidden")


def _token(settings) -> str | None:
    value = getattr(settings, "metrics_token", None)
    return value.get_secret_value() if value is not None else None


def exposition(registry: CollectorRegistry | None) -> bytes:
    """The app's registry, then the process-wide one (their metric names never overlap)."""
    body = generate_latest(registry) if registry is not None else b""
    return body + generate_latest(REGISTRY)


# -- the database at scrape time ---------------------------------------------------------------
class DbCollector(Collector):
    """Families measured from the database on each scrape (``measure(session)`` yields them).

    Until the app has its database (before startup) it yields nothing; a failing query yields
    ``microcred_metrics_db_up 0`` instead of failing the whole scrape.
    """

    def __init__(self, service: str, sessions: Callable[[], object | None],
                 measure: Callable[[object], Iterable]) -> None:
        self.service = service
        self.sessions = sessions
        self.measure = measure

    def describe(self):
        return []  # measured on each scrape: nothing to collect at registration

    def collect(self) -> Iterator:
        sessions = self.sessions()
        if sessions is None:
            return
        up = GaugeMetricFamily("microcred_metrics_db_up",
                               "1 if the scrape-time database queries of this service succeeded.")
        try:
            with sessions() as session:
                families = list(self.measure(session))
        except Exception as exc:
            log.warning("metrics: database queries failed: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def install(app: FastAPI, service: str, settings, collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """Logs, ``/metrics`` and the request middleware for ``app``; call it last in ``create_app``."""
    logs.configure(service, settings.log_level, getattr(settings, "log_format", "json"))
    registry = CollectorRegistry()
    http = HttpMetrics(registry)
    for collector in collectors:
        registry.register(collector)
    token = _token(settings)

    def metrics(request: Request) -> Response:
        check_access(token, request.client.host if request.client else None, request.headers.get("authorization"))
        return Response(exposition(registry), media_type=CONTENT_TYPE)

    app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(Observability, metrics=http, router=app.router)
    app.state.metrics_registry = registry
    return registry


# -- processes without an HTTP API ---------------------------------------------------------------
class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def worker_metrics_app(settings, registry: CollectorRegistry | None = None):
    """The WSGI app a worker serves: ``/metrics`` under the same access rule as the APIs."""
    token = _token(settings)

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "not_found", "message": "only /metrics is served here"}}']
        try:
            check_access(token, environ.get("REMOTE_ADDR"), environ.get("HTTP_AUTHORIZATION"))
        except (Unauthorized, Forbidden) as exc:
            import orjson

            start_response(f"{exc.status_code} {'Unauthorized' if exc.status_code == 401 else 'Forbidden'}",
                           [("Content-Type", "application/json")])
            return [orjson.dumps(error_body(exc.code, exc.message))]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE)])
        return [exposition(registry)]

    return app


def serve_worker_metrics(settings, service: str, port: int) -> WSGIServer | None:
    """Serve ``/metrics`` from a background thread on ``port`` (0: not at all), on MICROCRED_WORKER_METRICS_HOST."""
    if port <= 0:
        return None
    host = getattr(settings, "worker_metrics_host", "127.0.0.1")
    server = make_server(host, port, worker_metrics_app(settings), server_class=_ThreadingServer,
                         handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name=f"{service}-metrics", daemon=True).start()
    log.info("%s metrics on http://%s:%d/metrics", service, host, server.server_port)
    return server
