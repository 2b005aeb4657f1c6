"""Every ``yield`` dependency of every route ends before the response is sent.

Since FastAPI 0.118 a ``yield`` dependency's exit code runs *after* the response by default;
for our request sessions that would be the commit, so a client could get 201 for a write
that is not committed yet (and lost if the process dies). ``scope="function"`` ends it when
the route returns, before anything is sent. This test fails for any route, present or
future, that takes a generator dependency without it.
"""

from __future__ import annotations

import inspect

import pytest
from fastapi.routing import APIRoute

from services.issuer.app import create_app as issuer_app
from services.issuer.settings import IssuerSettings
from services.registry.app import create_app as registry_app
from services.registry.settings import RegistrySettings
from services.verifier.app import create_app as verifier_app
from services.verifier.settings import VerifierSettings


def _routes(routes):
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI 0.165 keeps included routers as branches
            yield from _routes(route.original_router.routes)


def _generator_dependencies(dependant, path=()):
    for sub in dependant.dependencies:
        name = getattr(sub.call, "__name__", repr(sub.call))
        if inspect.isgeneratorfunction(sub.call) or inspect.isasyncgenfunction(sub.call):
            yield (*path, name), sub.scope
        yield from _generator_dependencies(sub, (*path, name))


@pytest.mark.parametrize("make, has_sessions", [
    (lambda tmp: issuer_app(IssuerSettings(data_dir=tmp)), True),
    (lambda tmp: registry_app(RegistrySettings(data_dir=tmp)), True),
    (lambda tmp: verifier_app(VerifierSettings(data_dir=tmp)), False),
], ids=["issuer", "registry", "verifier"])
def test_every_yield_dependency_is_function_scoped(make, has_sessions, tmp_path):
    app = make(tmp_path)
    found, wrong = 0, []
    for route in _routes(app.routes):
        for chain, scope in _generator_dependencies(route.dependant):
            found += 1
            if scope != "function":
                wrong.append(f"{sorted(route.methods)} {route.path}: {' → '.join(chain)} (scope={scope!r})")
    assert not wrong, "yield dependencies that would end after the response:\n" + "\n".join(wrong)
    if has_sessions:
        assert found, "no session dependency found: the walk over the routes is broken"


def test_the_session_commits_before_the_response_is_sent(tmp_path):
    """The mechanism itself: a write answered 201 is visible to a request sent after the answer."""
    from fastapi.testclient import TestClient

    from services.ops.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    settings = IssuerSettings(data_dir=tmp_path, database_url=url, admin_token="t" * 32, run_batches=False,
                              registry_url="http://127.0.0.1:9", registry_create_timeout=0.2)
    events: list[str] = []
    app = issuer_app(settings)

    @app.middleware("http")
    async def record(request, call_next):
        response = await call_next(request)
        events.append("response")
        return response

    from sqlalchemy import event as sa_event
    from sqlalchemy.orm import Session

    @sa_event.listens_for(Session, "after_commit")
    def committed(_session):
        events.append("commit")

    try:
        with TestClient(app) as client:
            r = client.post("/api/v1/issuers", headers={"Authorization": f"Bearer {'t' * 32}"},
                            json={"name": "Order", "slug": "order", "url": "https://o.example", "email": "a@o.example"})
            assert r.status_code == 201, r.text
    finally:
        sa_event.remove(Session, "after_commit", committed)
    assert "commit" in events and events.index("commit") < events.index("response"), events
