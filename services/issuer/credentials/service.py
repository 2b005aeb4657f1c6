"""Credentials: issue one, read, list, revoke, suspend (docs/issuer.md, "Routes"); they flush, the request commits.

A credential's document is built by ``builder.build`` (the one place), signed by
services.issuer.signing, and stored with its hash in the outbox in the same transaction.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.secretbox import SecretBoxError
from services.issuer import idempotency, keys, signing, statuslists
from services.issuer.achievements import service as achievements
from services.issuer.anchoring import repository as outbox
from services.issuer.credentials import builder, document as cred, repository as repo
from services.issuer.credentials.schemas import CredentialCreate, CredentialList, CredentialRead, CredentialStatusRead
from services.issuer.issuers import repository as issuers_repo
from services.issuer.models import AnchorState, Credential, Issuer, OutboxKind, SigningKey
from services.issuer.pathways import awards
from services.issuer.settings import IssuerSettings

log = logging.getLogger("microcred.issuer")


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


def active_key(session: Session, issuer: Issuer) -> SigningKey:
    key = issuers_repo.active_signing_key(session, issuer.id)
    if key is None:  # pragma: no cover - every issuer has one
        raise Conflict("this issuer has no active signing key")
    return key


def issue_credential(session: Session, settings: IssuerSettings, issuer: Issuer, body: CredentialCreate,
                     idempotency_key: str | None) -> tuple[CredentialRead, bool]:
    """Build, sign and store one credential, with its hash in the outbox; (read, created)."""
    fingerprint = idempotency.request_hash("credential", body.model_dump(mode="json"))
    if idempotency_key:
        replay = idempotency.replay(session, issuer, idempotency_key, fingerprint, "credential")
        if replay is not None:
            return get_credential(session, issuer, replay), False
    achievement = achievements.issuable(session, issuer, body.achievement_id)
    key = active_key(session, issuer)
    context = signer(settings, issuer, key)
    now = utcnow()
    valid_from = body.valid_from.astimezone(UTC) if body.valid_from else now
    valid_until = cred.valid_until_for(valid_from, achievement.validity_days)
    credential_id = cred.new_credential_id()
    # Its indices in the current revocation and suspension lists, written in this transaction.
    status = statuslists.allocate(session, settings, issuer, [credential_id])[credential_id]
    unsigned = builder.build(
        settings, builder.template(settings, issuer, achievement), credential_id=credential_id,
        subject=builder.recipient_subject(body.recipient.name, body.recipient.email),
        valid_from=valid_from, valid_until=valid_until, status=status,
        evidence=[e.model_dump(exclude_none=True) for e in body.evidence] if body.evidence else None)
    outcome = signing.sign_documents(context.seed, context.verification_method, cred.xsd_datetime(now), [unsigned])[0]
    if outcome.error:
        raise InvalidInput(outcome.error, code="unsafe_document")
    row = repo.credential_row(
        credential_id=credential_id, issuer_id=issuer.id, achievement_id=achievement.id, key_id=key.id,
        document=outcome.document, credential_hash=outcome.credential_hash, valid_from=valid_from,
        valid_until=valid_until, now=now)
    repo.insert_credentials(session, [row])
    outbox.add_outbox(session, issuer.id, OutboxKind.anchor, {"hashes": [outcome.credential_hash]})
    # A component of a pathway: the learner's award job, in this transaction (docs/pathways.md).
    awards.queue(session, issuer.id, [(row.get("learner_id"), achievement.id)], now)
    if idempotency_key:
        idempotency.remember(session, issuer, idempotency_key, fingerprint, "credential", credential_id)
    session.flush()
    return get_credential(session, issuer, credential_id), True


def read(c: Credential, key: SigningKey | None, now: datetime) -> CredentialRead:
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
    return read(c, issuers_repo.signing_key(session, c.signing_key_id), utcnow())


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
    keys_by_id = {k.id: k for k in issuers_repo.signing_keys(session, issuer.id)}
    now = utcnow()
    items = [read(c, keys_by_id.get(c.signing_key_id), now) for c in rows]
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
                outbox.add_outbox(session, issuer.id, OutboxKind.revoke, {"hashes": [c.credential_hash]})
        session.refresh(c)
    return read(c, issuers_repo.signing_key(session, c.signing_key_id), utcnow())


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
    return read(c, issuers_repo.signing_key(session, c.signing_key_id), utcnow())


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
    return read(c, issuers_repo.signing_key(session, c.signing_key_id), utcnow())


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
