"""Routes of credentials: issue one, list, read, revoke, suspend; and the public reads verifiers make
(docs/issuer.md, "Routes")."""

from __future__ import annotations

import asyncio
import contextvars
import json
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from services.core.db import end
from services.core.errors import InvalidInput
from services.core.web import JSON_BODY, is_json_content_type
from services.issuer.deps import (Issuing, Reading, Revoking, SessionDep, SettingsDep, Withdrawing, authenticate,
                                  checked_idempotency_key, require_scope)
from services.issuer.routing import CredentialId, wake
from services.issuer.credentials import service
from services.issuer.pathways import awards
from services.issuer.credentials.schemas import (CredentialCreate, CredentialList, CredentialRead, CredentialStatusRead,
                                                 RenewIn, RevokeIn, SuspendIn)

api = APIRouter(prefix="/api/v1")
public = APIRouter()


def _inlined(schema: dict, defs: dict) -> dict:
    """``schema`` with every ``#/$defs/…`` reference replaced by its definition (none is recursive)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inlined(v, defs) for v in schema]
    return schema


_CREATE_SCHEMA = CredentialCreate.model_json_schema()
# The body is read and validated in the route's worker thread, after the API key (as a declared
# body would be, after the dependencies): described here for OpenAPI.
_CREATE_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": _inlined({k: v for k, v in _CREATE_SCHEMA.items() if k != "$defs"}, _CREATE_SCHEMA.get("$defs", {}))}}}}


@api.post("/credentials", status_code=201, response_model=CredentialRead, openapi_extra=_CREATE_BODY,
          responses={200: {"model": CredentialRead, "description": "a replay of the same Idempotency-Key"}})
async def issue_credential(request: Request,
                           idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> Response:
    """Issue one credential (scope ``issue``). With ``Idempotency-Key``, a retry returns the same credential (200).

    The API key, the body, the issue, the commit and the answer's JSON run in one worker thread
    (on SQLite, the process's one issue writer), through no dependency of FastAPI's: each sync
    dependency, and a sync route, is a thread hop of its own, and solving the dependencies (session,
    key, scope, settings, header, body) cost the event loop more than the rest of the request
    (docs/issuer.md, "Single issuance"). In the same order as they would be: the key (401, 403),
    then the header and the body (422). The answer is sent only after the commit returned; any
    error rolls the transaction back.
    """
    raw = await request.body()  # safe JSON already (services.core.web.SafeJsonBodies), or empty
    writer = request.app.state.issue_writer
    if writer is None:
        status, payload, wake_awards = await run_in_threadpool(_issue_one, request, raw, idempotency_key)
    else:  # SQLite: the process's one writer thread, in turn (its context: the request id)
        status, payload, wake_awards = await asyncio.get_running_loop().run_in_executor(
            writer, contextvars.copy_context().run, _issue_one, request, raw, idempotency_key)
    if status == 201:  # committed, something new: wake the relay (and the award runner); an event does not block
        await wake(request, "wake_relay")
        if wake_awards:  # a pathway component: no other issuance wakes the award runner
            await wake(request, "wake_awards")
    return Response(payload, status_code=status, media_type="application/json")


def _issue_one(request: Request, raw: bytes, idempotency_key: str | None) -> tuple[int, bytes, bool]:
    """In a worker thread: authenticate (as ``deps.get_principal`` and ``scoped("issue")``), read
    the body, issue, commit; then serialise (pydantic's JSON of the model, as FastAPI would send it)."""
    session = request.app.state.sessions()
    try:
        principal = require_scope(authenticate(request, session), "issue")
        key = checked_idempotency_key(idempotency_key)
        body = _body(request, raw)
        credential, created = service.issue_credential(session, request.app.state.settings, principal.issuer,
                                                       body, key)
        wake_awards = created and awards.jobs_queued(session)
        end(session, commit=True)  # commits and closes, or rolls back and raises: no answer for what is not stored
    except BaseException:
        end(session, commit=False)  # (after a failed commit: already rolled back and closed, harmless)
        raise
    return (201 if created else 200), credential.model_dump_json().encode(), wake_awards


def _body(request: Request, raw: bytes) -> CredentialCreate:
    """The body as FastAPI validates a declared one: parsed (as ``Request.json``) when its
    ``Content-Type`` is JSON (none is not) — taken as the safe-JSON guard parsed it, or by
    ``json.loads`` in an app without the guard — then validated in Python mode, the errors
    located under ``body`` (422 ``invalid_request``, the same messages)."""
    if not raw:
        raise _invalid({"type": "missing", "loc": (), "msg": "Field required", "input": None})
    try:
        parsed = None
        if is_json_content_type(request.headers.get("content-type")):
            parsed = request.scope[JSON_BODY] if JSON_BODY in request.scope else json.loads(raw)
    except ValueError:  # (SafeJsonBodies refused it already: only an app without it gets here)
        raise InvalidInput("request body: not JSON", code="invalid_json") from None
    if not isinstance(parsed, dict):
        raise _invalid({"type": "model_attributes_type", "loc": (), "input": None,
                        "msg": "Input should be a valid dictionary or object to extract fields from"})
    try:
        return CredentialCreate.model_validate(parsed)
    except ValidationError as exc:
        raise _invalid(*exc.errors(include_url=False)) from None


def _invalid(*errors: dict) -> RequestValidationError:
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])


@api.get("/credentials", response_model=CredentialList)
def list_credentials(principal: Reading, session: SessionDep,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     cursor: Annotated[str | None, Query(max_length=200)] = None,
                     achievement_id: Annotated[str | None, Query(max_length=40)] = None,
                     expiring_within: Annotated[str | None, Query(max_length=12, description=(
                         "only credentials in force that lapse within this time: 30d, 12h"))] = None,
                     ) -> CredentialList:
    return service.list_credentials(session, principal.issuer, limit, cursor, achievement_id, expiring_within)


@api.get("/credentials/{credential_id}", response_model=CredentialRead)
def get_credential(credential_id: CredentialId, principal: Reading, session: SessionDep) -> CredentialRead:
    return service.get_credential(session, principal.issuer, credential_id)


@api.post("/credentials/{credential_id}/revoke", response_model=CredentialRead)
def revoke_credential(credential_id: CredentialId, body: RevokeIn, principal: Withdrawing, session: SessionDep,
                      request: Request, tasks: BackgroundTasks) -> CredentialRead:
    """Revoke: marked at once; revocation on chain follows through the registry.

    An endorser (scope ``endorse``) revokes its own endorsements here; every lookup is scoped to
    the caller, so no one reaches another's credential (docs/endorsements.md).
    """
    credential = service.revoke_credential(session, principal.issuer, credential_id, body.reason)
    tasks.add_task(wake, request, "wake_relay")
    return credential


@api.post("/credentials/{credential_id}/renew", status_code=201, response_model=CredentialRead)
def renew_credential(credential_id: CredentialId, body: RenewIn, principal: Issuing, session: SessionDep,
                     settings: SettingsDep, request: Request, tasks: BackgroundTasks) -> CredentialRead:
    """Issue the successor, valid from now; the old one's public status names it (first renewal wins)."""
    credential = service.renew_credential(session, settings, principal.issuer, credential_id, body)
    tasks.add_task(wake, request, "wake_relay")
    return credential


@api.post("/credentials/{credential_id}/suspend", response_model=CredentialRead)
def suspend_credential(credential_id: CredentialId, body: SuspendIn, principal: Revoking, session: SessionDep,
                       request: Request, tasks: BackgroundTasks) -> CredentialRead:
    """Suspend: the suspension bit is set at once and published with the list's next version.

    The first suspension wins; 409 for a revoked credential, or one issued before status lists.
    """
    credential = service.suspend_credential(session, principal.issuer, credential_id, body.reason)
    tasks.add_task(wake, request, "wake_relay")
    return credential


@api.post("/credentials/{credential_id}/unsuspend", response_model=CredentialRead)
def unsuspend_credential(credential_id: CredentialId, principal: Revoking, session: SessionDep,
                         request: Request, tasks: BackgroundTasks) -> CredentialRead:
    """Lift a suspension (idempotent: a credential that is not suspended is answered as it is)."""
    credential = service.unsuspend_credential(session, principal.issuer, credential_id)
    tasks.add_task(wake, request, "wake_relay")
    return credential


@public.get("/public/credentials/{credential_id}", tags=["public"])
def public_credential(credential_id: CredentialId, session: SessionDep) -> JSONResponse:
    """The credential document (with its anchor proof once anchored)."""
    return JSONResponse(service.public_credential(session, credential_id))


@public.get("/public/credentials/{credential_id}/status", tags=["public"], response_model=CredentialStatusRead)
def public_status(credential_id: CredentialId, session: SessionDep, settings: SettingsDep,
                  response: Response) -> CredentialStatusRead:
    """Revocation as the issuer knows it now (before the chain may have caught up)."""
    response.headers["Cache-Control"] = "no-store"
    return service.public_status(session, settings, credential_id)
