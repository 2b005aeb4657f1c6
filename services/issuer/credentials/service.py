"""Credentials: issue one, read, list, revoke, suspend (docs/issuer.md, "Routes"); they flush, the request commits.

A credential's document is built by ``builder.build`` (the one place), signed by
services.issuer.signing, and stored with its hash in the outbox in the same transaction.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import Conflict, InvalidInput, NotFound
from services.core.secretbox import SecretBoxError
from services.issuer import idempotency, keys, signing, statuslists
from services.issuer.achievements import service as achievements
from services.issuer.anchoring import repository as outbox
from services.issuer.credentials import builder, context, document as cred, repository as repo
from services.issuer.credentials.schemas import (CredentialCreate, CredentialList, CredentialRead,
                                                 CredentialStatusRead, RenewIn)
from services.issuer.endorsements import notices as endorsement_notices
from services.issuer.learners import service as learners
from services.issuer.issuers import repository as issuers_repo
from services.issuer.models import Achievement, AnchorState, Credential, Issuer, OutboxKind, SigningKey
from services.issuer.pathways import awards
from services.issuer.settings import IssuerSettings
from services.issuer.webhooks import events

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
    fingerprint = None
    if idempotency_key:  # the request's fingerprint only then (a dump and a hash of the body)
        fingerprint = idempotency.request_hash("credential", body.model_dump(mode="json"))
        replay = idempotency.replay(session, issuer, idempotency_key, fingerprint, "credential")
        if replay is not None:
            return get_credential(session, issuer, replay), False
    # What it reads about the issuer comes from the per-process cache under the issuer row's
    # config_version (credentials/context.py): five statements fewer.
    facts = context.facts(issuer)
    achievement = context.achievement(session, issuer, facts, body.achievement_id)
    now = utcnow()
    valid_from = body.valid_from.astimezone(UTC) if body.valid_from else now
    learner_id = learners.link(session, settings, issuer, email=body.recipient.email, did=body.recipient.did)
    row: dict = {}
    credential_id = _issue(
        session, settings, issuer, achievement, now=now, credential_id=cred.new_credential_id(),
        subject=builder.recipient_subject(body.recipient.name, body.recipient.email, did=body.recipient.did),
        valid_from=valid_from, valid_until=cred.valid_until_for(valid_from, achievement.validity_days),
        evidence=[e.model_dump(exclude_none=True) for e in body.evidence] if body.evidence else None,
        learner_id=learner_id, written=row, facts=facts)
    if idempotency_key:
        idempotency.remember(session, issuer, idempotency_key, fingerprint, "credential", credential_id)
    session.flush()
    # Answered from what was just written (the active key signed it), not read back: two queries less.
    return _read_new(row, now), True


def _read_new(row: dict, now: datetime) -> CredentialRead:
    """The answer for a credential this transaction wrote: pending anchoring, not revoked or suspended."""
    document = row["signed"]
    status = cred.status_of(revoked_at=None, valid_from=row["valid_from"], valid_until=row["valid_until"],
                            anchored=False, signed_after_key_invalid=False, now=now, suspended_at=None)
    return CredentialRead(id=row["id"], url=document["id"], status=status, credential=document,
                          credential_hash=row["credential_hash"], achievement_id=row["achievement_id"],
                          anchored_at=None, revoked=False, revoked_at=None, revocation_reason=None, suspended=False,
                          suspended_at=None, suspension_reason=None, created_at=row["created_at"],
                          learner_id=row["learner_id"], replaces=row["replaces"], replaced_by=None)


def _issue(session: Session, settings: IssuerSettings, issuer: Issuer, achievement: Achievement, *, now: datetime,
           credential_id: str, subject: dict, valid_from: datetime, valid_until: datetime | None,
           evidence: list[dict] | None, learner_id: str | None, replaces: str | None = None,
           written: dict | None = None, facts: context.Facts | None = None) -> str:
    """Build, sign and store one credential with its hash in the outbox, in the caller's transaction
    (``written``, if given, receives the stored row and the signed document; ``facts``: the
    issuer's cached facts, with ``achievement`` from them, instead of reading them)."""
    key = context.active_key(session, issuer, facts) if facts is not None else active_key(session, issuer)
    sign_with = signer(settings, issuer, key)
    # Its indices in the current revocation and suspension lists, written in this transaction.
    open_lists = context.open_lists(session, issuer, facts) if facts is not None else None
    status = statuslists.allocate(session, settings, issuer, [credential_id], open_lists)[credential_id]
    unsigned = builder.build(settings, builder.template(settings, issuer, achievement), credential_id=credential_id,
                             subject=subject, valid_from=valid_from, valid_until=valid_until, status=status,
                             evidence=evidence)
    outcome = signing.sign_documents(sign_with.seed, sign_with.verification_method, cred.xsd_datetime(now),
                                     [unsigned])[0]
    if outcome.error:
        raise InvalidInput(outcome.error, code="unsafe_document")
    row = repo.credential_row(
        credential_id=credential_id, issuer_id=issuer.id, achievement_id=achievement.id, key_id=key.id,
        document=outcome.document, credential_hash=outcome.credential_hash, valid_from=valid_from,
        valid_until=valid_until, now=now, learner_id=learner_id, replaces=replaces)
    repo.insert_credentials(session, [row])
    # webhooks (docs/webhooks.md), in this transaction
    events.issued(session, issuer.id, [row], endpoints=context.issued_endpoints(session, issuer, facts)
                  if facts is not None else None, issuer_did=issuer.did)
    if written is not None:
        written.update(row, signed=outcome.document)
    outbox.queue_outbox(session, issuer.id, OutboxKind.anchor, {"hashes": [outcome.credential_hash]})
    # A component of a pathway: the learner's award job, in this transaction (docs/pathways.md).
    if facts is None or achievement.component:
        awards.queue(session, issuer.id, [(learner_id, achievement.id)], now)
    return credential_id


def renew_credential(session: Session, settings: IssuerSettings, issuer: Issuer, credential_id: str,
                     body: RenewIn) -> CredentialRead:
    """Issue the successor of a credential, valid from now, linked both ways (docs/issuer.md, "Renewal").

    The successor is the same achievement for the same recipient (its subject — DID, name and
    identity hash — and its evidence are carried over) and learner, valid until ``valid_until``
    or for the achievement's validity from now. The first renewal wins (a conditional update);
    a second is 409 ``already_renewed`` naming the successor, a revoked credential 409
    ``credential_revoked``. The old credential is not revoked: it stays valid until it lapses,
    and its public status names its successor.
    """
    old = _credential(session, issuer, credential_id)
    if old.revoked_at is not None:
        raise Conflict("this credential is revoked; issue a new one instead of renewing it", code="credential_revoked")
    if old.replaced_by is not None:
        raise Conflict(f"this credential was already renewed by {old.replaced_by}", code="already_renewed")
    achievement = achievements.achievement(session, issuer, old.achievement_id)
    now = utcnow()
    longest = cred.valid_until_for(now, achievement.validity_days)
    valid_until = body.valid_until.astimezone(UTC) if body.valid_until else longest
    if valid_until is None:
        raise InvalidInput("valid_until: required, as the achievement has no validity_days", code="no_validity")
    if valid_until <= now:
        raise InvalidInput("valid_until: must be in the future")
    if longest is not None and valid_until > longest:
        raise InvalidInput(f"valid_until: the achievement is valid for {achievement.validity_days} days, so at "
                           f"most {cred.xsd_datetime(longest)}")
    successor = cred.new_credential_id()
    if not repo.mark_replaced(session, issuer.id, old.id, successor):
        session.refresh(old)
        raise Conflict(f"this credential was renewed (or revoked) by a concurrent call"
                       f"{': ' + old.replaced_by if old.replaced_by else ''}", code="already_renewed")
    document = orjson.loads(old.document)
    subject = {k: v for k, v in document["credentialSubject"].items() if k != "achievement"}
    _issue(session, settings, issuer, achievement, now=now, credential_id=successor, subject=subject,
           valid_from=now, valid_until=valid_until, evidence=document.get("evidence"), learner_id=old.learner_id,
           replaces=old.id)
    session.flush()
    return get_credential(session, issuer, successor)


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
                          created_at=c.created_at, learner_id=c.learner_id, replaces=c.replaces,
                          replaced_by=c.replaced_by)


def read_many(session: Session, issuer: Issuer, rows) -> list[CredentialRead]:
    keys_by_id = {k.id: k for k in issuers_repo.signing_keys(session, issuer.id)}
    now = utcnow()
    return [read(c, keys_by_id.get(c.signing_key_id), now) for c in rows]


def get_credential(session: Session, issuer: Issuer, credential_id: str) -> CredentialRead:
    c = repo.credential(session, issuer.id, credential_id)
    if c is None:
        raise NotFound(f"no credential {credential_id!r} for this issuer")
    return read(c, issuers_repo.signing_key(session, c.signing_key_id), utcnow())


def list_credentials(session: Session, issuer: Issuer, limit: int, cursor: str | None,
                     achievement_id: str | None, expiring_within: str | None = None) -> CredentialList:
    """A page in issuance order; ``expiring_within`` (``30d``, ``12h``): only those that lapse by then."""
    lapsing = None
    if expiring_within is not None:
        now = utcnow()
        lapsing = (now, now + _duration(expiring_within))
    after = None
    if cursor:
        try:
            created, cid = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
            after = (datetime.fromisoformat(created), str(cid))
        except (ValueError, TypeError):
            raise InvalidInput("cursor: not a cursor this API returned") from None
    rows = repo.credentials_page(session, issuer.id, limit, after, achievement_id, lapsing)
    items = read_many(session, issuer, rows)
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
        when = utcnow()
        if repo.revoke_credential(session, issuer.id, credential_id, when, reason):
            if statuslists.set_status(session, credential_id, statuslists.REVOCATION, True) is None:
                outbox.add_outbox(session, issuer.id, OutboxKind.revoke, {"hashes": [c.credential_hash]})
            events.about(session, c, events.CREDENTIAL_REVOKED, revoked_at=cred.xsd_datetime(when), reason=reason)
            # An endorsement stands no more, and the endorsed issuer (not the endorser) hears of it.
            endorsement_notices.withdrawn(session, c, cred.xsd_datetime(when), reason)
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
        when = utcnow()
        if repo.suspend_credential(session, issuer.id, credential_id, when, reason):
            statuslists.set_status(session, credential_id, statuslists.SUSPENSION, True)
            events.about(session, c, events.CREDENTIAL_SUSPENDED, suspended_at=cred.xsd_datetime(when), reason=reason)
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
            events.about(session, c, events.CREDENTIAL_UNSUSPENDED)
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


def public_status(session: Session, settings: IssuerSettings, credential_id: str) -> CredentialStatusRead:
    c = repo.public_credential(session, credential_id) if len(credential_id) <= 64 else None
    if c is None:
        raise NotFound("no such credential")
    return CredentialStatusRead(
        revoked=c.revoked_at is not None, revokedAt=cred.xsd_datetime(c.revoked_at) if c.revoked_at else None,
        reason=c.revocation_reason if c.revoked_at else None,
        suspended=c.suspended_at is not None,
        suspendedAt=cred.xsd_datetime(c.suspended_at) if c.suspended_at else None,
        suspensionReason=c.suspension_reason if c.suspended_at else None,
        renewedBy=cred.credential_url(settings.public_base_url, c.replaced_by) if c.replaced_by else None)


_DURATION = re.compile(r"^([1-9][0-9]{0,5})([dh])$")


def _duration(text: str) -> timedelta:
    """``30d`` or ``12h``: a whole number of days (at most 36,500) or hours."""
    match = _DURATION.match(text)
    days = int(match.group(1)) / (24 if match.group(2) == "h" else 1) if match else None
    if days is None or days > 36_500:
        raise InvalidInput("expiring_within: a whole number of days or hours, e.g. 30d or 12h (at most 36500d)",
                           code="invalid_duration")
    return timedelta(days=days)
