"""The endorsed issuer's events about an endorsement (docs/webhooks.md): ``endorsement.added`` and
``endorsement.revoked``, both recorded in the transaction of the change, with the same ``data``.

The endorser itself hears nothing: its key only endorses, so it has no webhooks. The shared
revoke path (services.issuer.credentials.service) calls :func:`withdrawn` for every revocation.
"""

from __future__ import annotations

import orjson
from sqlalchemy.orm import Session

from services.issuer.achievements import repository as achievements_repo
from services.issuer.endorsements import repository as repo
from services.issuer.issuers import repository as issuers_repo
from services.issuer.models import Credential, Endorsement, Issuer
from services.issuer.webhooks import events


def endorsed_issuer_id(session: Session, e: Endorsement) -> str:
    if e.subject_issuer_id:
        return e.subject_issuer_id
    return achievements_repo.public_achievement(session, e.achievement_id).issuer_id


def _data(e: Endorsement, c: Credential, endorser: Issuer) -> dict:
    document = orjson.loads(c.document)
    return {"id": e.id, "url": document["id"], "about": "achievement" if e.achievement_id else "issuer",
            "achievement_id": e.achievement_id, "subject": document["credentialSubject"]["id"], "comment": e.comment,
            "endorser": {"id": endorser.id, "did": endorser.did, "name": endorser.name}}


def added(session: Session, e: Endorsement, c: Credential, endorser: Issuer) -> None:
    events.record(session, endorsed_issuer_id(session, e), events.ENDORSEMENT_ADDED, e.id,
                  {"endorsement": _data(e, c, endorser)})


def withdrawn(session: Session, c: Credential, revoked_at: str, reason: str) -> None:
    """After the revocation of credential ``c``: if it is a standing endorsement, it stands no more
    (so the endorser may endorse that subject again) and the endorsed issuer hears of it."""
    e = repo.withdraw(session, c.id)
    if e is None:  # not an endorsement (or already withdrawn: revocation is final)
        return
    endorser = issuers_repo.issuer(session, e.endorser_id)
    events.record(session, endorsed_issuer_id(session, e), events.ENDORSEMENT_REVOKED, e.id,
                  {"endorsement": _data(e, c, endorser), "revoked_at": revoked_at, "reason": reason})
