"""Routes of endorsers and endorsements (docs/endorsements.md): create an endorser (admin token), endorse
(scope ``endorse``), and the public lists a verifier reads to show endorsements on credentials."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Request
from fastapi.responses import JSONResponse

from services.issuer.deps import AdminAuth, Endorsing, RegistryDep, SessionDep, SettingsDep
from services.issuer.endorsements import service
from services.issuer.endorsements.schemas import EndorsementCreate, EndorsementCreated, EndorsementList, EndorsementRead
from services.issuer.issuers import service as issuers
from services.issuer.issuers.schemas import IssuerCreate, IssuerCreated, IssuerRead, KeyRotate, KeyRotated
from services.issuer.models import OrganisationKind
from services.issuer.routing import ResourceId, wake

api = APIRouter(prefix="/api/v1")
public = APIRouter()
CACHE = {"Cache-Control": "public, max-age=5"}


@api.post("/endorsers", status_code=201, dependencies=[AdminAuth], response_model=IssuerCreated)
def create_endorser(body: IssuerCreate, session: SessionDep, settings: SettingsDep, registry: RegistryDep,
                    request: Request, tasks: BackgroundTasks) -> IssuerCreated:
    """Create an endorser: its DID, signing key and chain account like an issuer's; its API key (shown once)
    has the ``endorse`` scope alone."""
    created = issuers.create_issuer(session, settings, registry, body, kind=OrganisationKind.endorser)
    tasks.add_task(wake, request, "wake_relay")
    return created


@api.get("/endorser", response_model=IssuerRead)
def current_endorser(principal: Endorsing, session: SessionDep, registry: RegistryDep) -> IssuerRead:
    """The calling endorser, with its keys and where its chain account stands."""
    return issuers.issuer_read(session, principal.issuer, registry)


@api.post("/endorser/signing-keys/rotate", response_model=KeyRotated)
def rotate_endorser_key(body: KeyRotate, principal: Endorsing, session: SessionDep, settings: SettingsDep,
                        request: Request, tasks: BackgroundTasks) -> KeyRotated:
    """Replace the endorser's signing key, by the issuer's rules (docs/issuer.md, "Keys"): with ``compromised``,
    what the old key signed after ``compromised_at`` no longer verifies."""
    rotated = issuers.rotate_signing_key(session, settings, principal.issuer, body)
    tasks.add_task(wake, request, "wake_relay")
    return rotated


@api.post("/endorsements", status_code=201, response_model=EndorsementCreated)
def create_endorsement(body: EndorsementCreate, principal: Endorsing, session: SessionDep, settings: SettingsDep,
                       request: Request, tasks: BackgroundTasks) -> EndorsementCreated:
    """Endorse an achievement (``achievement_id``) or an issuer (``issuer``: its slug), with a comment."""
    created = service.create_endorsement(session, settings, principal.issuer, body)
    tasks.add_task(wake, request, "wake_relay")
    return created


@api.get("/endorsements", response_model=EndorsementList)
def list_endorsements(principal: Endorsing, session: SessionDep) -> EndorsementList:
    return service.list_endorsements(session, principal.issuer)


@api.get("/endorsements/{endorsement_id}", response_model=EndorsementRead)
def get_endorsement(endorsement_id: ResourceId, principal: Endorsing, session: SessionDep) -> EndorsementRead:
    return service.get_endorsement(session, principal.issuer, endorsement_id)


@public.get("/public/achievements/{achievement_id}/endorsements", tags=["public"])
def achievement_endorsements(achievement_id: ResourceId, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """The endorsements of an achievement and of its issuer, standing ones first, then each endorser's latest
    revoked one: URLs only — a verifier checks each endorsement credential itself."""
    body = service.public_for_achievement(session, settings, achievement_id)
    return JSONResponse(body.model_dump(), headers=CACHE)


@public.get("/issuers/{slug}/endorsements", tags=["public"])
def issuer_endorsements(slug: Annotated[str, Path(max_length=64)], session: SessionDep,
                        settings: SettingsDep) -> JSONResponse:
    """The endorsements of an issuer itself, in the same order."""
    body = service.public_for_issuer(session, settings, slug)
    return JSONResponse(body.model_dump(), headers=CACHE)
