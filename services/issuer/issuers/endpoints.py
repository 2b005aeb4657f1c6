"""Routes of the issuers: create one (admin token), the calling issuer and its keys, and the public
Profile and DID document verifiers read (docs/issuer.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Request
from fastapi.responses import JSONResponse

from services.issuer.deps import AdminAuth, Managing, Reading, RegistryDep, SessionDep, SettingsDep
from services.issuer.routing import wake
from services.issuer.issuers import service
from services.issuer.issuers.schemas import IssuerCreate, IssuerCreated, IssuerRead, KeyRotate, KeyRotated

api = APIRouter(prefix="/api/v1")
public = APIRouter()


@api.post("/issuers", status_code=201, dependencies=[AdminAuth], response_model=IssuerCreated)
def create_issuer(body: IssuerCreate, session: SessionDep, settings: SettingsDep, registry: RegistryDep,
                  request: Request, tasks: BackgroundTasks) -> IssuerCreated:
    """Create an issuer: its signing key, its first API key (shown once), its chain account."""
    created = service.create_issuer(session, settings, registry, body)
    tasks.add_task(wake, request, "wake_relay")
    return created


@api.get("/issuer", response_model=IssuerRead)
def current_issuer(principal: Reading, session: SessionDep, registry: RegistryDep) -> IssuerRead:
    """The issuer, with each key's state on chain and ``chain_problems`` listing what failed there for good."""
    return service.issuer_read(session, principal.issuer, registry)


@api.post("/issuer/signing-keys/rotate", response_model=KeyRotated)
def rotate_signing_key(body: KeyRotate, principal: Managing, session: SessionDep, settings: SettingsDep,
                       request: Request, tasks: BackgroundTasks) -> KeyRotated:
    """Replace the signing key; with ``compromised``, what the old key signed after ``compromised_at`` is invalid."""
    rotated = service.rotate_signing_key(session, settings, principal.issuer, body)
    tasks.add_task(wake, request, "wake_relay")
    return rotated


@public.get("/issuers/{slug}", tags=["public"])
def issuer_profile(slug: Annotated[str, Path(max_length=64)], session: SessionDep) -> JSONResponse:
    """The issuer's public OB 3.0 Profile."""
    return JSONResponse(service.public_profile(session, slug), headers={"Cache-Control": "public, max-age=60"})


@public.get("/issuers/{slug}/did.json", tags=["public"])
def did_document(slug: Annotated[str, Path(max_length=64)], session: SessionDep) -> JSONResponse:
    """The issuer's ``did:web`` DID document: its Ed25519 keys and its chain account."""
    return JSONResponse(service.did_document(session, slug), media_type="application/did+json",
                        headers={"Cache-Control": "public, max-age=60"})
