"""Endorsers and endorsements (docs/endorsements.md); they flush, the request commits.

An endorser is an issuer row of kind ``endorser`` (services.issuer.issuers makes both): its own
DID, Ed25519 key and chain account, registered by the operator. An endorsement is an OB 3.0
``EndorsementCredential`` the endorser signs with its own key, stored as one of its credentials
(so it is served, anchored, listed in status lists and revoked like any credential), with a row
in ``issuer_endorsements`` saying what it is about.

Rules: only an endorser endorses (its key's only scope is ``endorse``); it endorses an issuer's
achievement, or an issuer — never another endorser, never itself; the comment is 1 to 2,000
characters of prose; one standing (unrevoked) endorsement per endorser and subject — the
database's partial unique indexes decide it, so concurrent requests make one.
"""

from __future__ import annotations

import orjson
from sqlalchemy.orm import Session

from services.core.db import add_unless_taken, utcnow
from services.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.issuer import signing, statuslists
from services.issuer.achievements import repository as achievements_repo
from services.issuer.anchoring import repository as outbox
from services.issuer.credentials import builder, document as cred, repository as credentials_repo
from services.issuer.credentials import service as credentials
from services.issuer.endorsements import notices, repository as repo
from services.issuer.endorsements.schemas import (EndorsementCreate, EndorsementCreated, EndorsementList,
                                                  EndorsementRead, PublicEndorsement, PublicEndorsementList)
from services.issuer.issuers import repository as issuers_repo
from services.issuer.models import (Achievement, AnchorState, Credential, Endorsement, Issuer, OrganisationKind,
                                    OutboxKind)
from services.issuer.settings import IssuerSettings


def _target(session: Session, settings: IssuerSettings, endorser: Issuer,
            body: EndorsementCreate) -> tuple[Achievement | None, Issuer, str, str]:
    """(achievement or None, the endorsed issuer, the EndorsementSubject's id, its name in words)."""
    if body.achievement_id is not None:
        achievement = achievements_repo.public_achievement(session, body.achievement_id)
        if achievement is None:
            raise NotFound(f"no achievement {body.achievement_id!r}", code="unknown_achievement")
        issuer = issuers_repo.issuer(session, achievement.issuer_id)
        return achievement, issuer, builder.achievement_url(settings, achievement.id), achievement.name
    issuer = issuers_repo.issuer_by_slug(session, body.issuer or "")
    if issuer is None:
        raise NotFound(f"no issuer {body.issuer!r}", code="unknown_issuer")
    if issuer.kind != OrganisationKind.issuer:
        raise InvalidInput(f"{body.issuer!r} is an endorser, not an issuer: endorsers endorse issuers and their "
                           "achievements", code="not_an_issuer")
    return None, issuer, issuer.did, issuer.name


def create_endorsement(session: Session, settings: IssuerSettings, endorser: Issuer,
                       body: EndorsementCreate) -> EndorsementCreated:
    """Sign and store one endorsement, with its hash in the outbox, in the request's transaction.

    The one place an endorsement comes into being: whatever must follow it (an ``endorsement.added``
    event) belongs here, in this transaction.
    """
    if endorser.kind != OrganisationKind.endorser:  # the scopes already say so; this is the rule itself
        raise Forbidden("only an endorser endorses; an issuer's credentials speak for its own achievements",
                        code="not_an_endorser")
    achievement, issuer, about, about_name = _target(session, settings, endorser, body)
    if issuer.id == endorser.id:  # pragma: no cover - an endorser has no achievements and is no issuer
        raise InvalidInput("an organisation cannot endorse itself", code="self_endorsement")
    if repo.standing(session, endorser.id, achievement_id=achievement.id if achievement else None,
                     subject_issuer_id=None if achievement else issuer.id):
        raise _already_endorsed()
    now = utcnow()
    credential_id = cred.new_credential_id()
    key = credentials.active_key(session, endorser)
    signer = credentials.signer(settings, endorser, key)
    status = statuslists.allocate(session, settings, endorser, [credential_id])[credential_id]
    unsigned = builder.build_endorsement(settings, endorser, credential_id=credential_id, about=about,
                                         about_name=about_name, comment=body.comment, valid_from=now, status=status)
    outcome = signing.sign_documents(signer.seed, signer.verification_method, cred.xsd_datetime(now), [unsigned])[0]
    if outcome.error:
        raise InvalidInput(outcome.error, code="unsafe_document")
    credentials_repo.insert_credentials(session, [credentials_repo.credential_row(
        credential_id=credential_id, issuer_id=endorser.id, achievement_id=None, key_id=key.id,
        document=outcome.document, credential_hash=outcome.credential_hash, valid_from=now, valid_until=None, now=now)])
    row = Endorsement(id=credential_id, endorser_id=endorser.id, achievement_id=achievement.id if achievement else None,
                      subject_issuer_id=None if achievement else issuer.id, comment=body.comment, standing=True,
                      created_at=now)
    if not add_unless_taken(session, row):
        # A concurrent request endorsed the same subject first. The error rolls the whole request
        # back: the status-list entries and the credential row written above go with it.
        raise _already_endorsed()
    outbox.add_outbox(session, endorser.id, OutboxKind.anchor, {"hashes": [outcome.credential_hash]})
    session.flush()
    found = repo.one(session, endorser.id, credential_id)
    read = _read(session, found[0], found[1])
    # The endorsed issuer's partners hear of it (the endorser has no webhooks: its key only endorses).
    notices.added(session, found[0], found[1], endorser)
    return EndorsementCreated(**read.model_dump(), credential=orjson.loads(found[1].document),
                              credential_hash=outcome.credential_hash)


def _already_endorsed() -> Conflict:
    return Conflict("this endorser already endorses that; revoke the endorsement first to say something new",
                    code="already_endorsed")


def _read(session: Session, e: Endorsement, c: Credential) -> EndorsementRead:
    issuer = issuers_repo.issuer(session, e.subject_issuer_id) if e.subject_issuer_id else None
    if issuer is None:
        achievement = achievements_repo.public_achievement(session, e.achievement_id)
        issuer = issuers_repo.issuer(session, achievement.issuer_id)
    document = orjson.loads(c.document)
    status = cred.status_of(revoked_at=c.revoked_at, valid_from=c.valid_from, valid_until=c.valid_until,
                            anchored=c.anchor_state == AnchorState.anchored, signed_after_key_invalid=False,
                            now=utcnow(), suspended_at=c.suspended_at)
    return EndorsementRead(id=e.id, url=document["id"], about="achievement" if e.achievement_id else "issuer",
                           achievement_id=e.achievement_id, issuer=issuer.slug,
                           subject=document["credentialSubject"]["id"], comment=e.comment, status=status,
                           revoked_at=c.revoked_at, created_at=e.created_at)


def list_endorsements(session: Session, endorser: Issuer) -> EndorsementList:
    return EndorsementList(items=[_read(session, e, c) for e, c in repo.by_endorser(session, endorser.id)])


def get_endorsement(session: Session, endorser: Issuer, endorsement_id: str) -> EndorsementRead:
    found = repo.one(session, endorser.id, endorsement_id)
    if found is None:
        raise NotFound(f"no endorsement {endorsement_id!r} by this endorser")
    return _read(session, *found)


def _public(settings: IssuerSettings, rows) -> PublicEndorsementList:
    return PublicEndorsementList(items=[
        PublicEndorsement(id=e.id, url=cred.credential_url(settings.public_base_url, e.id),
                          about="achievement" if e.achievement_id else "issuer") for e in rows])


def public_for_achievement(session: Session, settings: IssuerSettings, achievement_id: str) -> PublicEndorsementList:
    """An achievement's endorsements and its issuer's, standing ones first (what a verifier checks on its credentials)."""
    achievement = achievements_repo.public_achievement(session, achievement_id)
    if achievement is None:
        raise NotFound("no such achievement")
    return _public(settings, repo.about(session, achievement_id=achievement.id, issuer_id=achievement.issuer_id))


def public_for_issuer(session: Session, settings: IssuerSettings, slug: str) -> PublicEndorsementList:
    """An issuer's own endorsements (not those of its achievements)."""
    issuer = issuers_repo.issuer_by_slug(session, slug)
    if issuer is None:
        raise NotFound(f"no issuer {slug!r}")
    return _public(settings, repo.about(session, achievement_id=None, issuer_id=issuer.id))
