"""The issuer's FastAPI app: ``uvicorn services.issuer.app:create_app --factory --port 8001``."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from services.core import metrics
from services.core.db import make_engine, make_sessionmaker
from services.core.walcheckpoint import checkpoint_in_background
from services.core.web import NO_NATIVE_TELEMETRY, install_error_handlers, install_request_guards
from services.issuer import statuslists_endpoints
from services.issuer.achievements import endpoints as achievements
from services.issuer.apikeys import endpoints as apikeys
from services.issuer.batches import endpoints as batches
from services.issuer.credentials import endpoints as credentials
from services.issuer.endorsements import endpoints as endorsements
from services.issuer.issuers import endpoints as issuers
from services.issuer.pathways import endpoints as pathways
from services.issuer.learners import endpoints as learners
from services.issuer.profiles import endpoints as profiles
from services.issuer.webhooks import endpoints as webhooks
from services.issuer import metrics as issuer_metrics
from services.issuer.vcapi import router as vcapi_router
from services.issuer.registry_client import HttpRegistry, Registry
from services.issuer.settings import IssuerSettings, get_settings

log = logging.getLogger("microcred.issuer")

liveness = APIRouter(prefix="/api/v1")


@liveness.get("/health")
async def health() -> dict:  # no I/O: no thread hop
    return {"status": "ok"}


# The domains' routers (docs/architecture.md): the issuer API under /api/v1, then the public reads.
ROUTERS = (issuers.api, apikeys.api, achievements.api, credentials.api, batches.api, learners.api, pathways.api,
           profiles.api, endorsements.api, webhooks.api, liveness, endorsements.public, issuers.public,
           credentials.public, statuslists_endpoints.public, achievements.public, profiles.public)


def create_app(settings: IssuerSettings | None = None, registry: Registry | None = None, verifier=None) -> FastAPI:
    """The app; ``registry`` replaces the HTTP registry adapter, ``verifier`` the verifier's (tests wire fakes)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from services.issuer.batches.runner import BatchRunner
        from services.issuer.outbox import Relay
        from services.issuer.pathways.verifier_client import VerifierClient
        from services.issuer.pathways.runner import AwardRunner
        from services.issuer.signing import SigningPool

        engine = make_engine(settings.database_url)
        stop = threading.Event()
        checkpointer = checkpoint_in_background(engine, stop)  # SQLite: no request's commit checkpoints
        sessions = make_sessionmaker(engine)
        client = registry or HttpRegistry(settings.registry_url, settings.secret("service_token"),
                                          settings.registry_timeout)
        pool = SigningPool(settings.sign_processes)
        app.state.settings = settings
        app.state.sessions = sessions
        # SQLite has one writer at a time: the issue route's requests run in turn on this one thread of
        # the process, rather than meeting in SQLite's busy handler, which sleeps 1, 2, 5, 10… ms between
        # tries of a lock taken, or on a lock with worker threads fighting for the GIL (docs/issuer.md,
        # "Single issuance"). Other processes still wait in the handler. PostgreSQL: worker threads.
        writer = ThreadPoolExecutor(1, thread_name_prefix="issue-writer") if engine.dialect.name == "sqlite" else None
        app.state.issue_writer = writer
        app.state.registry = client
        app.state.verifier = verifier or VerifierClient(settings.verifier_url, settings.verifier_timeout)
        threads: list[threading.Thread] = []
        relay = None
        if settings.run_batches:
            app.state.wake_batches = threading.Event()

            def chunk_written() -> None:  # the relay in this process, if any, sends the chunk's hashes now
                wake = getattr(app.state, "wake_relay", None)
                if wake is not None:
                    wake.set()

            runner = BatchRunner(settings, sessions, pool, on_chunk=chunk_written)
            threads.append(threading.Thread(target=runner.run, args=(stop, app.state.wake_batches),
                                            name="batch-runner", daemon=True))
        if settings.run_awards:
            app.state.wake_awards = threading.Event()
            awards = AwardRunner(settings, sessions, verifier=app.state.verifier)
            threads.append(threading.Thread(target=awards.run, args=(stop, app.state.wake_awards),
                                            name="award-runner", daemon=True))
        if settings.run_outbox:
            app.state.wake_relay = threading.Event()
            relay = Relay(settings, sessions, client)
            threads.append(threading.Thread(target=relay.run, args=(stop, app.state.wake_relay),
                                            name="outbox-relay", daemon=True))
        deliverer = None
        if settings.run_webhooks:
            from services.issuer.webhooks.deliverer import Deliverer

            app.state.wake_webhooks = threading.Event()
            deliverer = Deliverer(settings, sessions)
            threads.append(threading.Thread(target=deliverer.run, args=(stop, app.state.wake_webhooks),
                                            name="webhook-deliverer", daemon=True))
        for thread in threads:
            thread.start()
        yield
        stop.set()
        for name in ("wake_batches", "wake_relay", "wake_awards", "wake_webhooks"):
            event = getattr(app.state, name, None)
            if event is not None:
                event.set()
        for thread in threads + ([checkpointer] if checkpointer else []):
            thread.join(timeout=30)
        if relay is not None:
            relay.close()
        if deliverer is not None:
            deliverer.close()
        pool.shutdown()
        if writer is not None:
            writer.shutdown(wait=True)  # an issue still running commits before the engine goes
        if registry is None:
            client.close()
        if verifier is None:
            app.state.verifier.close()
        engine.dispose()

    app = FastAPI(title="microcred issuer", version="0.1.0", lifespan=lifespan, telemetry=NO_NATIVE_TELEMETRY,
                  description="Issuers, API keys, achievements, and Open Badges 3.0 credentials signed with "
                              "eddsa-rdfc-2022 and anchored through the registry.")
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(vcapi_router)  # the W3C VC-API routes (docs/vc-api.md)
    install_request_guards(app, max_bytes=settings.max_body_bytes)  # 413, then safe JSON (422)
    # JSON logs, request ids, /metrics (docs/operations.md); last, so that it sees every answer.
    metrics.install(app, "issuer", settings, [issuer_metrics.collector(lambda: getattr(app.state, "sessions", None))])
    return app
