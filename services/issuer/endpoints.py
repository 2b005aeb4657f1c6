"""The issuer's HTTP routes (docs/issuer.md). Thin: parse, call the service, shape the answer.

* ``/api/v1/…`` — the issuer API: the admin token creates issuers; everything else takes
  an issuer's API key, whose scopes (issue, revoke, read, manage) say what it may do.
* ``/issuers/{slug}``, ``/issuers/{slug}/did.json``, ``/public/…`` — public reads for
  verifiers: the OB 3.0 Profile, the DID document, credentials, their status, images.
* ``/status-lists/{slug}/{purpose}/{n}[/versions/{hash}]`` — the issuer's signed W3C
  Bitstring Status Lists: the newest version (cached for the publishing interval, ETag =
  its hash), and every version ever published (immutable).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Header, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from services.core.errors import PayloadTooLarge
from services.issuer import service, statuslists
from services.issuer.deps import (AdminAuth, IdempotencyKey, Issuing, Managing, Reading, RegistryDep, Revoking,
                                  SessionDep, SettingsDep)
from services.issuer.schemas import (AchievementCreate, AchievementRead, ApiKeyCreate, ApiKeyCreated, ApiKeyRead,
                                     BatchCreate, BatchRead, CredentialCreate, CredentialList, CredentialRead,
                                     CredentialStatusRead, ImageRead, IssuerCreate, IssuerCreated, IssuerRead,
                                     KeyRotate, KeyRotated, RevokeIn, SuspendIn)

api = APIRouter(prefix="/api/v1")
public = APIRouter()

CredentialId = Annotated[str, Path(min_length=1, max_length=64)]
ResourceId = Annotated[str, Path(min_length=1, max_length=64)]


def _wake(request: Request, name: str) -> None:
    event = getattr(request.app.state, name, None)
    if event is not None:
        event.set()


# -- issuers (admin) -------------------------------------------------------------------------
@api.post("/issuers", status_code=201, dependencies=[AdminAuth], response_model=IssuerCreated)
def create_issuer(body: IssuerCreate, session: SessionDep, settings: SettingsDep, registry: RegistryDep,
                  request: Request, tasks: BackgroundTasks) -> IssuerCreated:
    """Create an issuer: its signing key, its first API key (shown once), its chain account."""
    created = service.create_issuer(session, settings, registry, body)
    tasks.add_task(_wake, request, "wake_relay")
    return created


# -- the calling issuer -------------------------------------------------------------------------
@api.get("/issuer", response_model=IssuerRead)
def current_issuer(principal: Reading, session: SessionDep, registry: RegistryDep) -> IssuerRead:
    """The issuer, with each key's state on chain and ``chain_problems`` listing what failed there for good."""
    return service.issuer_read(session, principal.issuer, registry)


@api.post("/issuer/signing-keys/rotate", response_model=KeyRotated)
def rotate_signing_key(body: KeyRotate, principal: Managing, session: SessionDep, settings: SettingsDep,
                       request: Request, tasks: BackgroundTasks) -> KeyRotated:
    """Replace the signing key; with ``compromised``, what the old key signed after ``compromised_at`` is invalid."""
    rotated = service.rotate_signing_key(session, settings, principal.issuer, body)
    tasks.add_task(_wake, request, "wake_relay")
    return rotated


@api.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_api_key(body: ApiKeyCreate, principal: Managing, session: SessionDep) -> ApiKeyCreated:
    return service.create_api_key(session, principal.issuer, body)


@api.get("/api-keys", response_model=list[ApiKeyRead])
def list_api_keys(principal: Managing, session: SessionDep) -> list[ApiKeyRead]:
    return service.list_api_keys(session, principal.issuer)


@api.post("/api-keys/{key_id}/revoke", response_model=ApiKeyRead)
def revoke_api_key(key_id: ResourceId, principal: Managing, session: SessionDep) -> ApiKeyRead:
    return service.revoke_api_key(session, principal.issuer, key_id)


# -- images and achievements ----------------------------------------------------------------------
@api.post("/images", status_code=201, response_model=ImageRead)
async def upload_image(principal: Issuing, session: SessionDep, settings: SettingsDep,
                       file: Annotated[UploadFile, File(description="a PNG or SVG image")]) -> ImageRead:
    data = await file.read(settings.image_max_bytes + 1)
    if len(data) > settings.image_max_bytes:
        raise PayloadTooLarge(f"the image is larger than {settings.image_max_bytes} bytes")
    return service.upload_image(session, settings, principal.issuer, data)


@api.post("/achievements", status_code=201, response_model=AchievementRead)
def create_achievement(body: AchievementCreate, principal: Issuing, session: SessionDep,
                       settings: SettingsDep) -> AchievementRead:
    return service.create_achievement(session, settings, principal.issuer, body)


@api.get("/achievements", response_model=list[AchievementRead])
def list_achievements(principal: Reading, session: SessionDep, settings: SettingsDep) -> list[AchievementRead]:
    return service.list_achievements(session, settings, principal.issuer)


@api.get("/achievements/{achievement_id}", response_model=AchievementRead)
def get_achievement(achievement_id: ResourceId, principal: Reading, session: SessionDep,
                    settings: SettingsDep) -> AchievementRead:
    return service.get_achievement(session, settings, principal.issuer, achievement_id)


# -- credentials -------------------------------------------------------------------------------------
@api.post("/credentials", status_code=201, response_model=CredentialRead)
def issue_credential(body: CredentialCreate, principal: Issuing, session: SessionDep, settings: SettingsDep,
                     idempotency_key: IdempotencyKey, response: Response, request: Request,
                     tasks: BackgroundTasks) -> CredentialRead:
    """Issue one credential. With ``Idempotency-Key``, a retry returns the same credential (200)."""
    credential, created = service.issue_credential(session, settings, principal.issuer, body, idempotency_key)
    if created:
        tasks.add_task(_wake, request, "wake_relay")
    else:
        response.status_code = 200
    return credential


@api.post("/credentials/batch", status_code=202, response_model=BatchRead)
def issue_batch(body: BatchCreate, principal: Issuing, session: SessionDep, settings: SettingsDep,
                idempotency_key: IdempotencyKey, response: Response, request: Request,
                tasks: BackgroundTasks) -> BatchRead:
    """Issue to many recipients: bad rows are reported, good rows issued in the background."""
    batch, created = service.create_batch(session, settings, principal.issuer, body, idempotency_key)
    if created:
        tasks.add_task(_wake, request, "wake_batches")
    else:
        response.status_code = 200
    response.headers["Location"] = f"/api/v1/credentials/batches/{batch.id}"
    return batch


@api.get("/credentials/batches/{batch_id}", response_model=BatchRead)
def get_batch(batch_id: ResourceId, principal: Reading, session: SessionDep, settings: SettingsDep,
              offset: Annotated[int, Query(ge=0)] = 0,
              limit: Annotated[int, Query(ge=0, le=10_000)] = 1000) -> BatchRead:
    return service.get_batch(session, settings, principal.issuer, batch_id, offset, limit)


@api.get("/credentials", response_model=CredentialList)
def list_credentials(principal: Reading, session: SessionDep,
                     limit: Annotated[int, Query(ge=1, le=500)] = 100,
                     cursor: Annotated[str | None, Query(max_length=200)] = None,
                     achievement_id: Annotated[str | None, Query(max_length=40)] = None) -> CredentialList:
    return service.list_credentials(session, principal.issuer, limit, cursor, achievement_id)


@api.get("/credentials/{credential_id}", response_model=CredentialRead)
def get_credential(credential_id: CredentialId, principal: Reading, session: SessionDep) -> CredentialRead:
    return service.get_credential(session, principal.issuer, credential_id)


@api.post("/credentials/{credential_id}/revoke", response_model=CredentialRead)
def revoke_credential(credential_id: CredentialId, body: RevokeIn, principal: Revoking, session: SessionDep,
                      request: Request, tasks: BackgroundTasks) -> CredentialRead:
    """Revoke: marked at once; revocation on chain follows through the registry."""
    credential = service.revoke_credential(session, principal.issuer, credential_id, body.reason)
    tasks.add_task(_wake, request, "wake_relay")
    return credential


@api.post("/credentials/{credential_id}/suspend", response_model=CredentialRead)
def suspend_credential(credential_id: CredentialId, body: SuspendIn, principal: Revoking, session: SessionDep,
                       request: Request, tasks: BackgroundTasks) -> CredentialRead:
    """Suspend: the suspension bit is set at once and published with the list's next version.

    The first suspension wins; 409 for a revoked credential, or one issued before status lists.
    """
    credential = service.suspend_credential(session, principal.issuer, credential_id, body.reason)
    tasks.add_task(_wake, request, "wake_relay")
    return credential


@api.post("/credentials/{credential_id}/unsuspend", response_model=CredentialRead)
def unsuspend_credential(credential_id: CredentialId, principal: Revoking, session: SessionDep,
                         request: Request, tasks: BackgroundTasks) -> CredentialRead:
    """Lift a suspension (idempotent: a credential that is not suspended is answered as it is)."""
    credential = service.unsuspend_credential(session, principal.issuer, credential_id)
    tasks.add_task(_wake, request, "wake_relay")
    return credential


@api.get("/health")
def health() -> dict:
    return {"status": "ok"}


# -- public reads --------------------------------------------------------------------------------------
@public.get("/issuers/{slug}", tags=["public"])
def issuer_profile(slug: Annotated[str, Path(max_length=64)], session: SessionDep) -> JSONResponse:
    """The issuer's public OB 3.0 Profile."""
    return JSONResponse(service.public_profile(session, slug), headers={"Cache-Control": "public, max-age=60"})


@public.get("/issuers/{slug}/did.json", tags=["public"])
def did_document(slug: Annotated[str, Path(max_length=64)], session: SessionDep) -> JSONResponse:
    """The issuer's ``did:web`` DID document: its Ed25519 keys and its chain account."""
    return JSONResponse(service.did_document(session, slug), media_type="application/did+json",
                        headers={"Cache-Control": "public, max-age=60"})


@public.get("/public/credentials/{credential_id}", tags=["public"])
def public_credential(credential_id: CredentialId, session: SessionDep) -> JSONResponse:
    """The credential document (with its anchor proof once anchored)."""
    return JSONResponse(service.public_credential(session, credential_id))


@public.get("/public/credentials/{credential_id}/status", tags=["public"], response_model=CredentialStatusRead)
def public_status(credential_id: CredentialId, session: SessionDep, response: Response) -> CredentialStatusRead:
    """Revocation as the issuer knows it now (before the chain may have caught up)."""
    response.headers["Cache-Control"] = "no-store"
    return service.public_status(session, credential_id)


StatusListSlug = Annotated[str, Path(max_length=64)]
StatusListPurpose = Annotated[str, Path(max_length=20)]
StatusListNumber = Annotated[str, Path(max_length=12)]


@public.get("/status-lists/{slug}/{purpose}/{number}", tags=["public"])
def status_list(slug: StatusListSlug, purpose: StatusListPurpose, number: StatusListNumber, session: SessionDep,
                settings: SettingsDep, accept: Annotated[str | None, Header()] = None,
                if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """The newest signed version of a status list (a BitstringStatusListCredential)."""
    version = statuslists.served_version(session, slug, purpose, number)
    return _status_list_response(version, f"public, max-age={statuslists.max_age(settings)}", accept, if_none_match)


@public.get("/status-lists/{slug}/{purpose}/{number}/versions/{list_hash}", tags=["public"])
def status_list_version(slug: StatusListSlug, purpose: StatusListPurpose, number: StatusListNumber,
                        list_hash: Annotated[str, Path(max_length=66)], session: SessionDep,
                        accept: Annotated[str | None, Header()] = None,
                        if_none_match: Annotated[str | None, Header()] = None) -> Response:
    """One version of a status list, by its hash (the hash the chain records): it never changes."""
    version = statuslists.served_version(session, slug, purpose, number, list_hash)
    return _status_list_response(version, "public, max-age=31536000, immutable", accept, if_none_match)


def _status_list_response(version, cache_control: str, accept: str | None, if_none_match: str | None) -> Response:
    etag = f'"{version.hash}"'
    headers = {"Cache-Control": cache_control, "ETag": etag, "Vary": "Accept"}
    if if_none_match is not None and _etag_matches(if_none_match, version.hash):
        return Response(status_code=304, headers=headers)
    return Response(version.document.encode(), media_type=_list_media_type(accept), headers=headers)


def _etag_matches(if_none_match: str, list_hash: str) -> bool:
    """RFC 9110 If-None-Match: ``*``, or any listed tag equal to ours (weak comparison)."""
    tags = [t.strip() for t in if_none_match.split(",")]
    return any(t == "*" or t.removeprefix("W/").strip('"') == list_hash for t in tags)


def _list_media_type(accept: str | None) -> str:
    """``application/vc+ld+json``, unless the client asks for plain JSON only."""
    wanted = (accept or "").lower()
    if "application/json" in wanted and "ld+json" not in wanted:
        return "application/json"
    return statuslists.MEDIA_TYPE


@public.get("/public/achievements/{achievement_id}", tags=["public"])
def public_achievement(achievement_id: ResourceId, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    return JSONResponse(service.public_achievement(session, settings, achievement_id))


@public.get("/public/images/{name}", tags=["public"])
def public_image(name: Annotated[str, Path(max_length=80)], session: SessionDep) -> Response:
    image = service.public_image(session, name)
    return Response(image.data, media_type=image.media_type, headers={
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
        # an SVG opened directly must not run anything or load anything
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox",
    })
