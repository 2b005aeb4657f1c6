"""The issuer's use cases, called by the endpoints. They flush; the request commits.

The only network call made inside a use case is the registry's, while an issuer is
created, and it happens before anything is written (so no database lock is held while
waiting). Everything else the registry must hear goes through the outbox, written in the
same transaction as its cause.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core import anchorproof
from services.core.db import utcnow
from services.core.errors import Conflict, InvalidInput, NotFound, PayloadTooLarge
from services.core.jsonld import JsonLdDocumentError, canonicalize
from services.core.secretbox import SecretBoxError
from services.issuer import apikeys, credentials as cred, keys, repository as repo, signing, statuslists
from services.issuer.images import CleanImage, ImageError, clean_image
from services.issuer.models import (Achievement, AnchorState, ApiKey, Batch, BatchState, Credential, Image, Issuer,
                                    KeyState, OutboxKind, OutboxState, RegistryState, SigningKey)
from services.issuer.registry_client import ChainAccount, Registry, RegistryError
from services.issuer.schemas import (KeyOnChainRead, AchievementCreate, AchievementRead, ApiKeyCreate, ApiKeyCreated, ApiKeyRead,
                                     BatchCreate, BatchCredential, BatchRead, BatchRow, CredentialCreate,
                                     CredentialList, CredentialRead, CredentialStatusRead, ImageRead, IssuerCreate,
                                     IssuerCreated, IssuerRead, KeyRotate, KeyRotated, RegistryInfo, RowError,
                                     SigningKeyRead)
from services.issuer.settings import IssuerSettings

log = logging.getLogger("microcred.issuer")

_DATA_URI = re.compile(r"^data:image/(png|svg\+xml);base64,([A-Za-z0-9+/=\s]+)$")


@dataclass(frozen=True)
class Principal:
    """Who is calling: an issuer, through one of its API keys."""

    issuer: Issuer
    api_key_id: str
    scopes: frozenset[str]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def request_hash(kind: str, body: dict) -> str:
    return hashlib.sha256(orjson.dumps({"kind": kind, "body": body}, option=orjson.OPT_SORT_KEYS)).hexdigest()


# -- issuers ---------------------------------------------------------------------------------
def _registry_info(issuer: Issuer) -> RegistryInfo:
    return RegistryInfo(state=issuer.registry_state.value, address=issuer.chain_address, chain_id=issuer.chain_id)


def record_account(issuer: Issuer, account: ChainAccount) -> None:
    issuer.chain_address = account.address
    state = RegistryState.active if account.state == "active" else RegistryState.registering
    if issuer.registry_state != RegistryState.active:
        issuer.registry_state = state


def create_issuer(session: Session, settings: IssuerSettings, registry: Registry | None,
                  body: IssuerCreate) -> IssuerCreated:
    """A new tenant: signing key, first API key (all scopes), and its chain account at the registry.

    The registry is asked first, with a short timeout and before anything is written; if
    it does not answer, the request goes into the outbox and the relay delivers it later.
    """
    if repo.issuer_by_slug(session, body.slug) is not None:
        raise Conflict(f"the slug {body.slug!r} is taken", code="slug_taken")
    issuer_id = new_id("iss")
    did = keys.did_web(settings.issuer_url, body.slug)
    logo = _decode_logo(settings, body.logo) if body.logo else None
    signing_key = keys.new_signing_key(settings.secret("key_encryption_key"), issuer_id)
    account: ChainAccount | None = None
    if registry is not None:
        try:
            account = registry.create_issuer(issuer_id, did, signing_key.public_key,
                                             timeout=settings.registry_create_timeout)
        except RegistryError as exc:
            log.warning("registry did not take issuer %s now (%s); the outbox will deliver it", issuer_id, exc)
    now = utcnow()
    issuer = Issuer(id=issuer_id, slug=body.slug, name=body.name, url=body.url, email=body.email,
                    logo_url=body.logo if body.logo and logo is None else None,
                    linkedin_organization_id=body.linkedin_organization_id, did=did,
                    registry_state=RegistryState.pending, created_at=now)
    session.add(issuer)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"the slug {body.slug!r} is taken", code="slug_taken") from None
    if logo is not None:
        issuer.logo_url = _store_image(session, settings, issuer_id, logo).url
    session.add(SigningKey(issuer_id=issuer_id, public_key=signing_key.public_key, multikey=signing_key.multikey,
                           sealed_private_key=signing_key.sealed, state=KeyState.active, compromised=False,
                           created_at=now))
    api_key = apikeys.new_api_key()
    key_id = new_id("key")
    session.add(ApiKey(id=key_id, issuer_id=issuer_id, name="initial key", prefix=api_key.display_prefix,
                       key_hash=api_key.key_hash, scopes=list(apikeys.ALL_SCOPES), created_at=now))
    message = repo.add_outbox(session, issuer_id, OutboxKind.register_issuer,
                              {"did": did, "public_key": signing_key.public_key})
    if account is not None:
        record_account(issuer, account)
        message.state, message.done_at = OutboxState.done, now
    session.flush()
    return IssuerCreated(id=issuer_id, slug=issuer.slug, did=did, api_key=api_key.key, api_key_id=key_id,
                         profile_url=f"{settings.issuer_url}/issuers/{issuer.slug}",
                         did_document_url=f"{settings.issuer_url}/issuers/{issuer.slug}/did.json",
                         registry=_registry_info(issuer))


def _decode_logo(settings: IssuerSettings, logo: str) -> CleanImage | None:
    """A data: URI logo becomes a hosted image; an http(s) URL is kept as given."""
    if re.match(r"^https?://\S+$", logo, re.IGNORECASE):
        if len(logo) > 1024:
            raise InvalidInput("logo: the URL is too long")
        return None
    match = _DATA_URI.match(logo)
    if not match:
        raise InvalidInput("logo: give an http(s) URL, or a PNG or SVG as a base64 data: URI")
    try:
        data = base64.b64decode(match.group(2), validate=False)
    except ValueError:
        raise InvalidInput("logo: the data URI is not valid base64") from None
    return _clean(settings, data)


def _clean(settings: IssuerSettings, data: bytes) -> CleanImage:
    if len(data) > settings.image_max_bytes:
        raise PayloadTooLarge(f"the image is larger than {settings.image_max_bytes} bytes")
    try:
        return clean_image(data, max_bytes=settings.image_max_bytes, max_pixels=settings.image_max_pixels)
    except ImageError as exc:
        raise InvalidInput(str(exc), code="invalid_image") from None


def _signing_key_read(issuer: Issuer, key: SigningKey) -> SigningKeyRead:
    return SigningKeyRead(public_key=key.public_key, multikey=key.multikey,
                          verification_method=keys.verification_method_id(issuer.did, key.multikey),
                          state=key.state.value, compromised=key.compromised, created_at=key.created_at,
                          retired_at=key.retired_at, valid_until=key.valid_until)


def issuer_read(session: Session, issuer: Issuer, registry: Registry | None = None) -> IssuerRead:
    """The issuer; with ``registry``, each key's state on chain, and loudly what failed there for good."""
    signing_keys = [_signing_key_read(issuer, k) for k in repo.signing_keys(session, issuer.id)]
    problems: list[str] = []
    if registry is not None:
        problems = _attach_chain_states(registry, issuer, signing_keys)
    return IssuerRead(id=issuer.id, slug=issuer.slug, name=issuer.name, url=issuer.url, email=issuer.email,
                      logo_url=issuer.logo_url, linkedin_organization_id=issuer.linkedin_organization_id,
                      did=issuer.did, registry=_registry_info(issuer), signing_keys=signing_keys,
                      chain_problems=problems, created_at=issuer.created_at)


def _attach_chain_states(registry: Registry, issuer: Issuer, signing_keys: list[SigningKeyRead]) -> list[str]:
    try:
        states = {s.public_key.lower(): s for s in registry.key_states(issuer.id)}
    except RegistryError as exc:
        return [f"the registry could not be asked where the keys stand on chain: {exc}"]
    problems = []
    for key in signing_keys:
        state = states.get(key.public_key.lower())
        if state is None:
            key.chain = KeyOnChainRead(registration="unknown")
            continue
        problem = None
        if state.state == "failed":
            problem = f"registering key {key.public_key} on chain failed for good: {state.error}"
        elif state.retirement_state == "failed":
            what = "the compromise of" if key.compromised else "retiring"
            problem = f"recording {what} key {key.public_key} on chain failed for good: {state.retirement_error}"
        key.chain = KeyOnChainRead(registration=state.state, registration_error=state.error,
                                   retirement=state.retirement_state, retirement_error=state.retirement_error,
                                   anchors_waiting=state.anchors_waiting, problem=problem)
        if problem:
            log.error("issuer %s: %s", issuer.id, problem)
            problems.append(problem)
    return problems


def rotate_signing_key(session: Session, settings: IssuerSettings, issuer: Issuer, body: KeyRotate) -> KeyRotated:
    """A new key signs from now on; the old one is retired (now, or from its compromise time).

    Rules (docs/issuer.md, "Keys"): a normal retirement ends at the block time the chain
    records it, so everything the old key signed until now stays valid. A compromise ends
    at ``compromised_at`` in whole seconds — even before the key existed, in which case
    nothing it signed counts — and then only what was signed *and* anchored before that
    second stays valid. Two rotations at once: the first to commit wins, the other gets 409,
    so exactly one key is ever active.
    """
    old = repo.active_signing_key(session, issuer.id)
    if old is None:  # pragma: no cover - every issuer has one
        raise Conflict("this issuer has no active signing key")
    now = utcnow()
    # A normal retirement ends with the second after now by our clock (the one that dates every
    # ``created``): whatever the old key signed up to this moment stays valid, even when the
    # chain's block clock lags ours.
    until = now.replace(microsecond=0) + timedelta(seconds=1)
    if body.compromised:
        until = (body.compromised_at or now).astimezone(UTC).replace(microsecond=0)
        if until > now:
            raise InvalidInput("compromised_at: must not be in the future")
    if not repo.retire_signing_key(session, old.id, retired_at=now, valid_until=until, compromised=body.compromised):
        raise Conflict("another key rotation for this issuer was committed first; read the issuer's keys and retry "
                       "if a new rotation is still wanted", code="concurrent_rotation")
    new = keys.new_signing_key(settings.secret("key_encryption_key"), issuer.id)
    new_row = SigningKey(issuer_id=issuer.id, public_key=new.public_key, multikey=new.multikey,
                         sealed_private_key=new.sealed, state=KeyState.active, compromised=False, created_at=now)
    session.add(new_row)
    repo.add_outbox(session, issuer.id, OutboxKind.rotate_key,
                    {"public_key": new.public_key, "retire": old.public_key, "retire_at": int(until.timestamp()),
                     "compromised": body.compromised})
    # Every status list is signed again by the new key at the next publication.
    statuslists.resign_all(session, issuer.id)
    session.flush()
    session.refresh(old)
    invalidated = repo.credentials_invalidated_by_compromise(session, old.id, until) if body.compromised else 0
    return KeyRotated(new_key=_signing_key_read(issuer, new_row), retired_key=_signing_key_read(issuer, old),
                      invalidated_credentials=invalidated)


def public_profile(session: Session, slug: str) -> dict:
    issuer = _issuer_by_slug(session, slug)
    return {"@context": list(cred.CONTEXTS), **cred.profile_document(_profile_data(issuer))}


def did_document(session: Session, slug: str) -> dict:
    issuer = _issuer_by_slug(session, slug)
    multikeys = [k.multikey for k in repo.signing_keys(session, issuer.id)]
    account = (issuer.chain_id, issuer.chain_address) if issuer.chain_id and issuer.chain_address else None
    return keys.did_document(issuer.did, multikeys, account)


def _issuer_by_slug(session: Session, slug: str) -> Issuer:
    issuer = repo.issuer_by_slug(session, slug)
    if issuer is None:
        raise NotFound(f"no issuer {slug!r}")
    return issuer


def _profile_data(issuer: Issuer) -> cred.ProfileData:
    return cred.ProfileData(did=issuer.did, name=issuer.name, url=issuer.url, email=issuer.email,
                            image_url=issuer.logo_url, linkedin_organization_id=issuer.linkedin_organization_id)


# -- API keys ------------------------------------------------------------------------------------
def _api_key_read(k: ApiKey) -> dict:
    return dict(id=k.id, name=k.name, prefix=k.prefix, scopes=list(k.scopes), created_at=k.created_at,
                last_used_at=k.last_used_at, revoked_at=k.revoked_at)


def create_api_key(session: Session, issuer: Issuer, body: ApiKeyCreate) -> ApiKeyCreated:
    new = apikeys.new_api_key()
    row = ApiKey(id=new_id("key"), issuer_id=issuer.id, name=body.name, prefix=new.display_prefix,
                 key_hash=new.key_hash, scopes=sorted(set(body.scopes), key=apikeys.SCOPES.index), created_at=utcnow())
    session.add(row)
    session.flush()
    return ApiKeyCreated(key=new.key, **_api_key_read(row))


def list_api_keys(session: Session, issuer: Issuer) -> list[ApiKeyRead]:
    return [ApiKeyRead(**_api_key_read(k)) for k in repo.api_keys(session, issuer.id)]


def revoke_api_key(session: Session, issuer: Issuer, key_id: str) -> ApiKeyRead:
    """Idempotent, first revocation wins; refused from the next request on (the answer follows the commit)."""
    row = repo.api_key(session, issuer.id, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id!r}")
    if row.revoked_at is None:
        repo.revoke_api_key(session, issuer.id, key_id, utcnow())
        session.refresh(row)
    return ApiKeyRead(**_api_key_read(row))


# -- images and achievements --------------------------------------------------------------------------
def image_url(settings: IssuerSettings, sha256: str, media_type: str) -> str:
    return f"{settings.issuer_url}/public/images/{sha256}.{'png' if media_type == 'image/png' else 'svg'}"


def _store_image(session: Session, settings: IssuerSettings, issuer_id: str, clean: CleanImage) -> ImageRead:
    existing = repo.image(session, issuer_id, clean.sha256)
    if existing is None:
        session.add(Image(issuer_id=issuer_id, sha256=clean.sha256, media_type=clean.media_type, data=clean.data,
                          created_at=utcnow()))
        session.flush()
    return ImageRead(id=clean.sha256, url=image_url(settings, clean.sha256, clean.media_type),
                     media_type=clean.media_type, size=len(clean.data))


def upload_image(session: Session, settings: IssuerSettings, issuer: Issuer, data: bytes) -> ImageRead:
    return _store_image(session, settings, issuer.id, _clean(settings, data))


def public_image(session: Session, name: str) -> Image:
    sha, _, ext = name.partition(".")
    found = repo.public_image(session, sha) if re.fullmatch(r"[0-9a-f]{64}", sha) else None
    if found is None or ext != ("png" if found.media_type == "image/png" else "svg"):
        raise NotFound("no such image")
    return found


def _image_for(session: Session, settings: IssuerSettings, issuer: Issuer, ref: str) -> str:
    """The URL of this issuer's uploaded image named by ``ref`` (its id, or the url we returned)."""
    sha = ref.rsplit("/", 1)[-1].split(".", 1)[0] if "/" in ref else ref
    found = repo.image(session, issuer.id, sha) if re.fullmatch(r"[0-9a-f]{64}", sha) else None
    if found is None:
        raise InvalidInput("image: upload the image first (POST /api/v1/images) and give its id", code="unknown_image")
    return image_url(settings, found.sha256, found.media_type)


def achievement_url(settings: IssuerSettings, achievement_id: str) -> str:
    return f"{settings.issuer_url}/public/achievements/{achievement_id}"


def achievement_data(settings: IssuerSettings, a: Achievement) -> cred.AchievementData:
    return cred.AchievementData(
        id_url=achievement_url(settings, a.id), name=a.name, description=a.description,
        criteria_narrative=a.criteria_narrative, criteria_url=a.criteria_url, image_url=a.image_url,
        image_caption=a.image_caption, achievement_type=a.achievement_type, alignment=list(a.alignment or []),
        tags=list(a.tags or []), validity_days=a.validity_days)


def _achievement_read(settings: IssuerSettings, a: Achievement) -> AchievementRead:
    document = cred.achievement_document(achievement_data(settings, a))
    return AchievementRead(id=a.id, name=a.name, description=a.description, criteria=document["criteria"],
                           image=a.image_url, achievement_type=a.achievement_type, alignment=list(a.alignment or []),
                           tags=list(a.tags or []), validity_days=a.validity_days, created_at=a.created_at,
                           achievement=document)


def create_achievement(session: Session, settings: IssuerSettings, issuer: Issuer,
                       body: AchievementCreate) -> AchievementRead:
    image = _image_for(session, settings, issuer, body.image) if body.image else None
    row = Achievement(id=new_id("ach"), issuer_id=issuer.id, name=body.name, description=body.description,
                      criteria_narrative=body.criteria.narrative, criteria_url=body.criteria.id, image_url=image,
                      image_caption=body.image_caption, achievement_type=body.achievement_type,
                      alignment=[a.model_dump(exclude_none=True) for a in body.alignment], tags=list(body.tags),
                      validity_days=body.validity_days, created_at=utcnow())
    # Refuse now what could not be signed later: the achievement must canonicalise safely.
    _check_signable(settings, issuer, row)
    session.add(row)
    session.flush()
    return _achievement_read(settings, row)


def _check_signable(settings: IssuerSettings, issuer: Issuer, a: Achievement) -> None:
    probe = cred.build_credential(
        credential_id="probe", public_base_url=settings.public_base_url,
        profile=cred.profile_document(_profile_data(issuer)), achievement=cred.achievement_document(achievement_data(settings, a)),
        recipient_name="probe", recipient_email="probe@example.org", salt="probe", valid_from=utcnow(),
        valid_until=None, status=statuslists.probe_status(settings, issuer))
    try:
        canonicalize(probe)
    except JsonLdDocumentError as exc:
        raise InvalidInput(f"this achievement could not be signed safely: {exc}", code="unsafe_document") from None


def list_achievements(session: Session, settings: IssuerSettings, issuer: Issuer) -> list[AchievementRead]:
    return [_achievement_read(settings, a) for a in repo.achievements(session, issuer.id)]


def get_achievement(session: Session, settings: IssuerSettings, issuer: Issuer, achievement_id: str) -> AchievementRead:
    return _achievement_read(settings, _achievement(session, issuer, achievement_id))


def public_achievement(session: Session, settings: IssuerSettings, achievement_id: str) -> dict:
    a = repo.public_achievement(session, achievement_id)
    if a is None:
        raise NotFound("no such achievement")
    return {"@context": list(cred.CONTEXTS), **cred.achievement_document(achievement_data(settings, a))}


def _achievement(session: Session, issuer: Issuer, achievement_id: str) -> Achievement:
    a = repo.achievement(session, issuer.id, achievement_id)
    if a is None:
        raise NotFound(f"no achievement {achievement_id!r} for this issuer", code="unknown_achievement")
    return a


# -- credentials --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SignerContext:
    """What signing needs, loaded once per request or batch chunk."""

    key_id: int
    seed: bytes
    verification_method: str


def signer(settings: IssuerSettings, issuer: Issuer, key: SigningKey) -> SignerContext:
    try:
        seed = keys.open_seed(settings.secret("key_encryption_key"), issuer.id, key.public_key,
                              key.sealed_private_key)
    except SecretBoxError:
        log.error("the signing key of issuer %s does not open with the configured key-encryption key", issuer.id)
        raise
    return SignerContext(key.id, seed, keys.verification_method_id(issuer.did, key.multikey))


def _active_key(session: Session, issuer: Issuer) -> SigningKey:
    key = repo.active_signing_key(session, issuer.id)
    if key is None:  # pragma: no cover - every issuer has one
        raise Conflict("this issuer has no active signing key")
    return key


def credential_row(*, credential_id: str, issuer_id: str, achievement_id: str | None, key_id: int, document: dict,
                   credential_hash: str, valid_from: datetime, valid_until: datetime | None, now: datetime,
                   batch_id: str | None = None, batch_row: int | None = None) -> dict:
    return dict(id=credential_id, issuer_id=issuer_id, achievement_id=achievement_id, signing_key_id=key_id,
                batch_id=batch_id, batch_row=batch_row, document=orjson.dumps(document).decode(),
                credential_hash=credential_hash, valid_from=valid_from, valid_until=valid_until,
                anchor_state=AnchorState.pending, created_at=now)


def issue_credential(session: Session, settings: IssuerSettings, issuer: Issuer, body: CredentialCreate,
                     idempotency_key: str | None) -> tuple[CredentialRead, bool]:
    """Build, sign and store one credential, with its hash in the outbox; (read, created)."""
    fingerprint = request_hash("credential", body.model_dump(mode="json"))
    if idempotency_key:
        replay = _replay(session, issuer, idempotency_key, fingerprint, "credential")
        if replay is not None:
            return get_credential(session, issuer, replay), False
    achievement = _achievement(session, issuer, body.achievement_id)
    key = _active_key(session, issuer)
    context = signer(settings, issuer, key)
    now = utcnow()
    valid_from = body.valid_from.astimezone(UTC) if body.valid_from else now
    valid_until = cred.valid_until_for(valid_from, achievement.validity_days)
    credential_id = cred.new_credential_id()
    # Its indices in the current revocation and suspension lists, written in this transaction.
    status = statuslists.allocate(session, settings, issuer, [credential_id])[credential_id]
    unsigned = cred.build_credential(
        credential_id=credential_id, public_base_url=settings.public_base_url,
        profile=cred.profile_document(_profile_data(issuer)),
        achievement=cred.achievement_document(achievement_data(settings, achievement)),
        recipient_name=body.recipient.name, recipient_email=body.recipient.email, salt=cred.new_salt(),
        valid_from=valid_from, valid_until=valid_until,
        evidence=[e.model_dump(exclude_none=True) for e in body.evidence] if body.evidence else None, status=status)
    outcome = signing.sign_documents(context.seed, context.verification_method, cred.xsd_datetime(now), [unsigned])[0]
    if outcome.error:
        raise InvalidInput(outcome.error, code="unsafe_document")
    repo.insert_credentials(session, [credential_row(
        credential_id=credential_id, issuer_id=issuer.id, achievement_id=achievement.id, key_id=key.id,
        document=outcome.document, credential_hash=outcome.credential_hash, valid_from=valid_from,
        valid_until=valid_until, now=now)])
    repo.add_outbox(session, issuer.id, OutboxKind.anchor, {"hashes": [outcome.credential_hash]})
    if idempotency_key and not repo.add_idempotency_record(session, issuer.id, idempotency_key, fingerprint,
                                                           "credential", credential_id):
        raise Conflict("another request with this Idempotency-Key is in progress; retry it", code="idempotency_conflict")
    session.flush()
    return get_credential(session, issuer, credential_id), True


def _replay(session: Session, issuer: Issuer, key: str, fingerprint: str, kind: str) -> str | None:
    record = repo.idempotency_record(session, issuer.id, key)
    if record is None:
        return None
    if record.request_hash != fingerprint or record.resource_kind != kind:
        raise Conflict("this Idempotency-Key was already used with a different request", code="idempotency_key_reused")
    return record.resource_id


def _read(c: Credential, key: SigningKey | None, now: datetime) -> CredentialRead:
    document = orjson.loads(c.document)
    invalid = bool(key is not None and key.compromised and key.valid_until is not None
                   and cred.invalidated_by_compromise(c.created_at, c.anchored_at, key.valid_until))
    status = cred.status_of(revoked_at=c.revoked_at, valid_from=c.valid_from, valid_until=c.valid_until,
                            anchored=c.anchor_state == AnchorState.anchored, signed_after_key_invalid=invalid, now=now,
                            suspended_at=c.suspended_at)
    return CredentialRead(id=c.id, url=document["id"], status=status, credential=document,
                          credential_hash=c.credential_hash, achievement_id=c.achievement_id,
                          anchored_at=c.anchored_at, revoked=c.revoked_at is not None, revoked_at=c.revoked_at,
                          revocation_reason=c.revocation_reason, suspended=c.suspended_at is not None,
                          suspended_at=c.suspended_at, suspension_reason=c.suspension_reason,
                          created_at=c.created_at)


def get_credential(session: Session, issuer: Issuer, credential_id: str) -> CredentialRead:
    c = repo.credential(session, issuer.id, credential_id)
    if c is None:
        raise NotFound(f"no credential {credential_id!r} for this issuer")
    return _read(c, repo.signing_key(session, c.signing_key_id), utcnow())


def list_credentials(session: Session, issuer: Issuer, limit: int, cursor: str | None,
                     achievement_id: str | None) -> CredentialList:
    after = None
    if cursor:
        try:
            created, cid = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
            after = (datetime.fromisoformat(created), str(cid))
        except (ValueError, TypeError):
            raise InvalidInput("cursor: not a cursor this API returned") from None
    rows = repo.credentials_page(session, issuer.id, limit, after, achievement_id)
    keys_by_id = {k.id: k for k in repo.signing_keys(session, issuer.id)}
    now = utcnow()
    items = [_read(c, keys_by_id.get(c.signing_key_id), now) for c in rows]
    next_cursor = None
    if len(rows) == limit:
        last = rows[-1]
        next_cursor = base64.urlsafe_b64encode(orjson.dumps([last.created_at.isoformat(), last.id])).decode()
    return CredentialList(items=items, next_cursor=next_cursor)


def revoke_credential(session: Session, issuer: Issuer, credential_id: str, reason: str) -> CredentialRead:
    """Marked revoked at once (the status routes say so); the chain hears it later.

    First revocation wins (a conditional update): a second or concurrent call changes
    nothing, queues nothing, and answers with the stored time and reason. The call that
    revoked it sets the credential's bit in its revocation list (published with the next
    version of the list); a credential issued before status lists has no list, and its
    hash goes to the registry's per-hash revocation through the outbox, as before.
    """
    c = _credential(session, issuer, credential_id)
    if c.revoked_at is None:
        if repo.revoke_credential(session, issuer.id, credential_id, utcnow(), reason):
            if statuslists.set_status(session, credential_id, statuslists.REVOCATION, True) is None:
                repo.add_outbox(session, issuer.id, OutboxKind.revoke, {"hashes": [c.credential_hash]})
        session.refresh(c)
    return _read(c, repo.signing_key(session, c.signing_key_id), utcnow())


def suspend_credential(session: Session, issuer: Issuer, credential_id: str, reason: str) -> CredentialRead:
    """Set the credential's suspension bit; first suspension wins (time and reason kept).

    409 ``credential_revoked`` for a revoked credential (revocation is final, and says more),
    409 ``no_suspension_list`` for one issued before status lists (it has no suspension entry
    a verifier could read: revoke it, or issue it again).
    """
    c = _credential(session, issuer, credential_id)
    if c.revoked_at is not None:
        raise _revoked()
    if c.suspended_at is None:
        if not statuslists.has_entries(session, credential_id):
            raise Conflict("this credential was issued before status lists and cannot be suspended; "
                           "revoke it instead", code="no_suspension_list")
        if repo.suspend_credential(session, issuer.id, credential_id, utcnow(), reason):
            statuslists.set_status(session, credential_id, statuslists.SUSPENSION, True)
        session.refresh(c)
        if c.suspended_at is None:  # a concurrent call changed it in the meantime
            if c.revoked_at is not None:
                raise _revoked()
            raise Conflict("the credential's suspension was changed by a concurrent call; read it and retry",
                           code="concurrent_change")
    return _read(c, repo.signing_key(session, c.signing_key_id), utcnow())


def _revoked() -> Conflict:
    return Conflict("this credential is revoked; a revoked credential cannot be suspended", code="credential_revoked")


def unsuspend_credential(session: Session, issuer: Issuer, credential_id: str) -> CredentialRead:
    """Lift a suspension: clear the bit, time and reason. Idempotent: a credential that is not
    suspended (never was, or already lifted) is answered as it stands, and nothing is queued."""
    c = _credential(session, issuer, credential_id)
    if c.suspended_at is not None:
        if repo.unsuspend_credential(session, issuer.id, credential_id):
            statuslists.set_status(session, credential_id, statuslists.SUSPENSION, False)
        session.refresh(c)
    return _read(c, repo.signing_key(session, c.signing_key_id), utcnow())


def _credential(session: Session, issuer: Issuer, credential_id: str) -> Credential:
    c = repo.credential(session, issuer.id, credential_id)
    if c is None:
        raise NotFound(f"no credential {credential_id!r} for this issuer")
    return c


def public_credential(session: Session, credential_id: str) -> dict:
    c = repo.public_credential(session, credential_id) if len(credential_id) <= 64 else None
    if c is None:
        raise NotFound("no such credential")
    return orjson.loads(c.document)


def public_status(session: Session, credential_id: str) -> CredentialStatusRead:
    c = repo.public_credential(session, credential_id) if len(credential_id) <= 64 else None
    if c is None:
        raise NotFound("no such credential")
    return CredentialStatusRead(
        revoked=c.revoked_at is not None, revokedAt=cred.xsd_datetime(c.revoked_at) if c.revoked_at else None,
        reason=c.revocation_reason if c.revoked_at else None,
        suspended=c.suspended_at is not None,
        suspendedAt=cred.xsd_datetime(c.suspended_at) if c.suspended_at else None,
        suspensionReason=c.suspension_reason if c.suspended_at else None)


# -- anchoring (called by the outbox relay) ---------------------------------------------------------------
def attach_anchor(c: Credential, receipt: dict, now: datetime) -> None:
    """Put the ledger-anchor proof into the credential's proof set (replacing an older one)."""
    proof = anchorproof.encode(
        anchorproof.AnchorReceipt(chain_id=int(receipt["chainId"]), contract=receipt["contract"],
                                  account=receipt["account"], root=receipt["root"], path=tuple(receipt["proof"] or ()),
                                  tx_hash=receipt["txHash"], block_number=int(receipt["blockNumber"])),
        receipt.get("anchoredAt") or cred.xsd_datetime(now))
    document = orjson.loads(c.document)
    proofs = document.get("proof")
    proofs = proofs if isinstance(proofs, list) else [proofs] if proofs else []
    document["proof"] = [p for p in proofs if p.get("cryptosuite") != anchorproof.CRYPTOSUITE] + [proof]
    c.document = orjson.dumps(document).decode()
    # The block's time, as verifiers see it (a compromise is judged against it); else when we heard.
    c.anchor_state, c.anchored_at, c.anchor_next_poll_at = AnchorState.anchored, _block_time(receipt) or now, None


def _block_time(receipt: dict) -> datetime | None:
    try:
        return datetime.fromisoformat(str(receipt["anchoredAt"]).replace("Z", "+00:00")).astimezone(UTC)
    except (KeyError, ValueError):
        return None


# -- batches ------------------------------------------------------------------------------------------------
def create_batch(session: Session, settings: IssuerSettings, issuer: Issuer, body: BatchCreate,
                 idempotency_key: str | None) -> tuple[BatchRead, bool]:
    """Check every row now (bad rows are reported, not issued), store the batch, answer at once.

    A background runner signs and stores the good rows in chunks, each chunk its own
    transaction; ``GET /api/v1/credentials/batches/{id}`` shows progress meanwhile.
    """
    if len(body.recipients) > settings.batch_max_recipients:
        raise InvalidInput(f"recipients: at most {settings.batch_max_recipients} per batch "
                           f"(got {len(body.recipients)})", code="batch_too_large")
    fingerprint = request_hash("batch", body.model_dump(mode="json"))
    if idempotency_key:
        replay = _replay(session, issuer, idempotency_key, fingerprint, "batch")
        if replay is not None:
            return get_batch(session, settings, issuer, replay, 0, 1000), False
    achievement = _achievement(session, issuer, body.achievement_id)
    rows, errors = validate_rows(body.recipients)
    now = utcnow()
    batch = Batch(id=new_id("bat"), issuer_id=issuer.id, achievement_id=achievement.id,
                  state=BatchState.queued if rows else BatchState.done, total=len(body.recipients),
                  processed=len(errors), issued=0, failed=len(errors), next_index=0, rows=rows,
                  errors=errors, created_at=now, finished_at=None if rows else now,
                  options={"valid_from": body.valid_from.astimezone(UTC).isoformat() if body.valid_from else None})
    session.add(batch)
    session.flush()
    if idempotency_key and not repo.add_idempotency_record(session, issuer.id, idempotency_key, fingerprint,
                                                           "batch", batch.id):
        raise Conflict("another request with this Idempotency-Key is in progress; retry it", code="idempotency_conflict")
    return _batch_read(session, settings, batch, 0, 1000), True


def validate_rows(recipients: list) -> tuple[list[dict], list[dict]]:
    """(good rows with their index, errors ``{row, reason}``); a repeated email is an error."""
    good: list[dict] = []
    errors: list[dict] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(recipients):
        try:
            row = BatchRow.model_validate(raw)
        except ValueError as exc:
            errors.append({"row": index, "reason": _row_reason(exc)})
            continue
        email = cred.normalize_email(row.email)
        if email in seen:
            errors.append({"row": index, "reason": f"the same email address as row {seen[email]}"})
            continue
        seen[email] = index
        item = {"row": index, "name": row.name, "email": row.email}
        if row.evidence:
            item["evidence"] = [e.model_dump(exclude_none=True) for e in row.evidence]
        good.append(item)
    return good, errors


def _row_reason(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for err in errors()[:3]:
            where = ".".join(str(p) for p in err.get("loc", ()))
            parts.append(f"{where or 'row'}: {err.get('msg', 'invalid')}")
        return "; ".join(parts)
    return str(exc)


def get_batch(session: Session, settings: IssuerSettings, issuer: Issuer, batch_id: str, offset: int, limit: int) -> BatchRead:
    batch = repo.batch(session, issuer.id, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id!r} for this issuer")
    return _batch_read(session, settings, batch, offset, limit)


def _batch_read(session: Session, settings: IssuerSettings, batch: Batch, offset: int, limit: int) -> BatchRead:
    issued = repo.batch_credentials(session, batch.id, offset, limit)
    return BatchRead(id=batch.id, state=batch.state.value, achievement_id=batch.achievement_id, total=batch.total,
                     processed=batch.processed, issued=batch.issued, failed=batch.failed,
                     errors=[RowError(**e) for e in sorted(batch.errors or [], key=lambda e: e["row"])],
                     credentials=[BatchCredential(row=r, id=cid, url=cred.credential_url(settings.public_base_url, cid))
                                  for r, cid in issued],
                     created_at=batch.created_at, started_at=batch.started_at, finished_at=batch.finished_at)
