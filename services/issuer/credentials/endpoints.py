"""Routes of credentials: issue one, list, read, revoke, suspend; and the public reads verifiers make
(docs/issuer.md, "Routes")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import JSONResponse

from services.core.db import commit_now
from services.issuer.deps import IdempotencyKey, Issuing, Reading, Revoking, SessionDep, SettingsDep, Withdrawing
from services.issuer.routing import CredentialId, wake
from services.issuer.credentials import service
from services.issuer.pathways import awards
from services.issuer.credentials.schemas import (CredentialCreate, CredentialList, CredentialRead, CredentialStatusRead,
                                                 RenewIn, RevokeIn, SuspendIn)

api = APIRouter(prefix="/api/v1")
public = APIRouter()


@api.post("/credentials", status_code=201, response_model=CredentialRead)
def issue_credential(body: CredentialCreate, principal: Issuing, session: SessionDep, settings: SettingsDep,
                     idempotency_key: IdempotencyKey, request: Request, tasks: BackgroundTasks) -> Response:
    """Issue one credential. With ``Idempotency-Key``, a retry returns the same credential (200)."""
    credential, created = service.issue_credential(session, settings, principal.issuer, body, idempotency_key)
    if created:
        tasks.add_task(wake, request, "wake_relay")
        if awards.jobs_queued(session):  # a pathway component: no other issuance wakes the award runner
            tasks.add_task(wake, request, "wake_awards")
    # Committed and serialised here, in this worker thread (the answer is pydantic's JSON of the
    # model, as FastAPI would send it): ending the session and FastAPI's check of a returned model
    # against response_model would each cost a thread hop of their own.
    commit_now(session)
    return Response(credential.model_dump_json(), status_code=201 if created else 200, media_type="application/json")


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
