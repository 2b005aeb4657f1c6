"""Learners: found or created when a credential is issued to them; read by the issuer (docs/learners.md).

A learner is keyed by ``keys.email_key`` (HMAC-SHA256 of the normalised email under the
issuer's sealed learner secret), or — when a credential names no email we can read, as a
VC-API credential with only a salted identity hash — by the DID the credential names as its
subject. An email address is hashed in memory and never stored or logged.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.core.db import utcnow
from services.core.errors import NotFound
from services.issuer.ids import new_id
from services.issuer.learners import keys, repository as repo
from services.issuer.learners.schemas import LearnerCredential, LearnerCredentials, LearnerList, LearnerRead
from services.issuer.models import Issuer, Learner
from services.issuer.settings import IssuerSettings


def secret(session: Session, settings: IssuerSettings, issuer: Issuer) -> bytes:
    """The issuer's learner secret, made (once, first writer wins) on first use.

    Once made it never changes, so the sealed value on the issuer row the caller loaded is
    used as it is (no query), and opened once per process (``keys.open_secret`` is cached).
    """
    sealed = issuer.sealed_learner_secret or repo.sealed_secret(session, issuer.id)
    if sealed is None:
        repo.set_secret_if_absent(session, issuer.id,
                                  keys.new_sealed_secret(settings.secret("key_encryption_key"), issuer.id))
        sealed = repo.sealed_secret(session, issuer.id)
    return keys.open_secret(settings.secret("key_encryption_key"), issuer.id, sealed)


def link(session: Session, settings: IssuerSettings, issuer: Issuer, *, email: str | None = None,
         did: str | None = None) -> str | None:
    """The id of the learner with this email (or, without one, this DID), created on first credential."""
    if email is not None:
        return _link_email(session, issuer.id, secret(session, settings, issuer), email, did)
    if did is None:
        return None
    found = repo.by_did(session, issuer.id, did)
    if found is None:
        row = Learner(id=new_id("lrn"), issuer_id=issuer.id, email_key=None, did=did, created_at=utcnow())
        if repo.add(session, row):
            return row.id
        found = repo.by_did(session, issuer.id, did)
    return found.id


def _link_email(session: Session, issuer_id: str, learner_secret: bytes, email: str, did: str | None) -> str:
    """One recipient, as :func:`link_many` links it: a new learner in one statement (``INSERT …
    RETURNING``), a known one with one lookup more; anything else (its DID is another learner's)
    goes the general way."""
    key = keys.email_key(learner_secret, email)
    made = repo.insert_one(session, {"id": new_id("lrn"), "issuer_id": issuer_id, "email_key": key, "did": did,
                                     "created_at": utcnow()})
    if made is not None:
        return made
    known = repo.ids_by_email_keys(session, issuer_id, [key]).get(key)
    if known is None:
        return link_many(session, issuer_id, learner_secret, [(email, did)])[0]
    learner_id, learner_did = known
    if did is not None and learner_did is None:
        repo.set_did_if_absent(session, learner_id, did)
    return learner_id


def link_many(session: Session, issuer_id: str, learner_secret: bytes,
              recipients: list[tuple[str, str | None]]) -> list[str]:
    """Learner ids for ``(email, did)`` recipients, in order, creating the missing ones.

    In bulk: one ``INSERT … ON CONFLICT DO NOTHING`` of every recipient's learner (those that
    exist, or that a concurrent transaction makes first, are skipped), then one lookup of them
    all — whatever the number of recipients (500 per statement).
    A learner's DID is the first one given; a later, different one is kept only in that
    credential (``credentialSubject.id``), not on the learner. A DID another learner of the
    issuer already has is not given to a new one (the learner is made without it).
    """
    wanted = [(keys.email_key(learner_secret, email), did) for email, did in recipients]
    # Insert first (a learner that exists is skipped by its unique key), then read them all:
    # two statements for the common cases, new learners and known ones alike.
    missing: dict[str, str | None] = {}
    for key, did in wanted:
        missing.setdefault(key, did)
    known: dict[str, tuple[str, str | None]] = {}
    for attempt in range(2):
        if not missing:
            break
        now = utcnow()
        # The second attempt drops the DID: its unique key is what refused the first.
        repo.insert_missing(session, [{"id": new_id("lrn"), "issuer_id": issuer_id, "email_key": key,
                                       "did": did if attempt == 0 else None, "created_at": now}
                                      for key, did in missing.items()])
        known.update(repo.ids_by_email_keys(session, issuer_id, list(missing)))
        missing = {key: did for key, did in missing.items() if key not in known}
    if missing:  # pragma: no cover - a learner row we inserted or found must be there
        raise RuntimeError("learners could not be linked")
    ids = []
    for key, did in wanted:
        learner_id, learner_did = known[key]
        if did is not None and learner_did is None:
            repo.set_did_if_absent(session, learner_id, did)
            known[key] = (learner_id, did)
        ids.append(learner_id)
    return ids


def _read(row: Learner) -> LearnerRead:
    return LearnerRead(id=row.id, did=row.did, created_at=row.created_at)


def _learner(session: Session, issuer: Issuer, learner_id: str) -> Learner:
    row = repo.learner(session, issuer.id, learner_id)
    if row is None:
        raise NotFound(f"no learner {learner_id!r} for this issuer")
    return row


def get_learner(session: Session, issuer: Issuer, learner_id: str) -> LearnerRead:
    return _read(_learner(session, issuer, learner_id))


def find_by_email(session: Session, settings: IssuerSettings, issuer: Issuer, email: str) -> LearnerList:
    """The learner with this email, if any (the address is hashed here and forgotten)."""
    key = keys.email_key(secret(session, settings, issuer), email)
    found = repo.by_email_keys(session, issuer.id, [key]).get(key)
    return LearnerList(items=[_read(found)] if found is not None else [])


def credentials(session: Session, issuer: Issuer, learner_id: str, status_of) -> LearnerCredentials:
    """The learner's credentials from this issuer, oldest first; ``status_of(credential)`` says where each stands."""
    from services.issuer.pathways import repository as pathways_repo

    _learner(session, issuer, learner_id)
    reads = status_of(repo.credentials_of(session, issuer.id, learner_id))
    awarded = pathways_repo.awarded_credential_ids(session, issuer.id, [r.id for r in reads])
    return LearnerCredentials(items=[
        LearnerCredential(id=read.id, url=read.url, achievement_id=read.achievement_id, status=read.status,
                          pathway=read.id in awarded)
        for read in reads])
