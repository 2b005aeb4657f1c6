"""The registry's FastAPI app: ``uvicorn services.registry.app:create_app --factory``."""

from __future__ import annotations

import logging
import threading
from contextlib import asynccontextmanager

from eth_account import Account
from fastapi import FastAPI

from services.core import metrics
from services.core.db import make_engine, make_sessionmaker
from services.core.web import NO_NATIVE_TELEMETRY, install_error_handlers, install_request_guards
from services.registry.chain import ChainError, Web3Chain
from services.registry import metrics as registry_metrics
from services.registry.endpoints import router
from services.registry.settings import RegistrySettings, get_settings

log = logging.getLogger("microcred.registry")


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine = make_engine(settings.database_url)
        app.state.settings = settings
        app.state.sessions = make_sessionmaker(engine)
        app.state.owner_address = Account.from_key(settings.secret("owner_private_key")).address
        try:
            app.state.chain = Web3Chain(settings.eth_rpc_url, settings.contract_address)
        except ChainError as exc:
            log.error("registry starts without a chain: %s", exc)
            app.state.chain = None
        stop = threading.Event()
        thread = None
        if settings.run_worker and app.state.chain is not None:
            from services.registry.worker import build_worker
            thread = threading.Thread(target=build_worker(settings).run, args=(stop,), name="anchoring-worker",
                                      daemon=True)
            thread.start()
        yield
        stop.set()
        if thread:
            thread.join(timeout=10)
        engine.dispose()

    app = FastAPI(title="microcred registry", version="0.1.0", lifespan=lifespan, telemetry=NO_NATIVE_TELEMETRY,
                  description="Chain accounts, Merkle-batched anchoring of credential hashes, revocations, receipts.")
    install_error_handlers(app)
    app.include_router(router)
    # 10,000 hashes as JSON are ~700 kB; nothing the registry takes is larger.
    install_request_guards(app, max_bytes=min(settings.max_body_bytes, 1024 * 1024))  # 413, then safe JSON (422)
    # JSON logs, request ids, /metrics (docs/operations.md); last, so that it sees every answer.
    metrics.install(app, "registry",
                    settings, [registry_metrics.collector(lambda: getattr(app.state, "sessions", None), settings)])
    return app
