"""Typed FastAPI dependencies of the issuer: session, settings, callers (docs/issuer.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session

from services.core.db import end, utcnow
from services.core.errors import Forbidden, InvalidInput, Unauthorized
from services.core.web import bearer_token, require_token
from services.issuer.apikeys import repository as apikeys_repo, tokens as apikeys
from services.issuer.models import Issuer
from services.issuer.registry_client import Registry
from services.issuer.settings import IssuerSettings

TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: an issuer, through one of its API keys."""

    issuer: Issuer
    api_key_id: str
    scopes: frozenset[str]


async def get_settings(request: Request) -> IssuerSettings:
    return request.app.state.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """The request owns the transaction: commit on success, roll back on any error.

    Used only as ``SessionDep`` (``scope="function"``): the commit happens after the route
    returns and *before* the response is sent, so a client that saw 2xx can read what it
    wrote on its next request, on any replica, and a process killed after answering has
    lost nothing. (Since FastAPI 0.118 a ``yield`` dependency's exit code runs after the
    response by default; a failed commit would then follow a 2xx already on the wire.)

    Async, so that only the end (commit or rollback: I/O) goes to a worker thread: a new
    session does no I/O until its first query, and a sync generator would cost a thread hop
    to open it as well. The end runs shielded from cancellation and outside the thread
    pool's limit (as FastAPI does for sync generators): a commit never waits for a free
    thread while the requests holding every thread wait for a connection it would release.
    A session with no transaction open (none begun, or the route committed its work itself
    with ``db.commit_now``, as the issue route does) is closed here: nothing is left to send.
    """
    session = request.app.state.sessions()
    try:
        yield session
    except BaseException:
        with CancelScope(shield=True):
            await anyio.to_thread.run_sync(end, session, False, limiter=CapacityLimiter(1))
        raise
    if not session.in_transaction():
        session.close()
        return
    with CancelScope(shield=True):
        await anyio.to_thread.run_sync(end, session, True, limiter=CapacityLimiter(1))


def get_registry(request: Request) -> Registry | None:
    return request.app.state.registry


SettingsDep = Annotated[IssuerSettings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
RegistryDep = Annotated[Registry | None, Depends(get_registry)]


def require_admin(request: Request, settings: SettingsDep) -> None:
    require_token(request, settings.secret("admin_token"), "admin token")


def get_principal(request: Request, session: SessionDep) -> Principal:
    """The issuer behind the API key in ``Authorization: Bearer mc_live_…``."""
    return authenticate(request, session)


def authenticate(request: Request, session: Session) -> Principal:
    """``get_principal`` itself, for a route that authenticates in its own worker thread (the issue
    route: one thread hop for the key, the issue and the commit)."""
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing API key: send 'Authorization: Bearer mc_live_…'")
    if not apikeys.looks_like_key(token):
        raise Unauthorized("not an API key of this service (they start with 'mc_live_')")
    found = apikeys_repo.api_key_and_issuer_by_hash(session, apikeys.hash_key(token))
    if found is None:
        raise Unauthorized("unknown API key")
    key, issuer = found
    if key.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > TOUCH_EVERY:
        apikeys_repo.touch_api_key(session, key.id, now)
    # An endorser's key never carries an issuer's scope, nor an issuer's the endorser's, whatever
    # its row says: the organisation's kind bounds what any of its keys may do (docs/endorsements.md).
    scopes = frozenset(key.scopes) & apikeys.allowed_scopes(issuer.kind.value)
    return Principal(issuer=issuer, api_key_id=key.id, scopes=scopes)


def require_scope(principal: Principal, *scopes: str) -> Principal:
    """``principal``, if its key has one of ``scopes``; else 403 ``insufficient_scope``."""
    if not principal.scopes & set(scopes):
        wanted = " or ".join(f"'{s}'" for s in scopes)
        raise Forbidden(f"this API key lacks the {wanted} scope", code="insufficient_scope")
    return principal


def scoped(*scopes: str) -> Callable[..., Principal]:
    """The caller, if its key has one of ``scopes``; else 403 ``insufficient_scope``."""
    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:  # no I/O: no thread
        return require_scope(principal, *scopes)

    dependency.__name__ = "require_" + "_or_".join(scopes) + "_scope"
    return dependency


async def idempotency_key(key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> str | None:
    return checked_idempotency_key(key)


def checked_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidInput("Idempotency-Key: 1 to 255 printable characters")
    return key


AdminAuth = Depends(require_admin)
Issuing = Annotated[Principal, Depends(scoped("issue"))]
Revoking = Annotated[Principal, Depends(scoped("revoke"))]
Reading = Annotated[Principal, Depends(scoped("read"))]
Managing = Annotated[Principal, Depends(scoped("manage"))]
Endorsing = Annotated[Principal, Depends(scoped("endorse"))]
# Revoking a credential: an issuer's (scope revoke), or an endorser's own endorsement (scope endorse).
Withdrawing = Annotated[Principal, Depends(scoped("revoke", "endorse"))]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
