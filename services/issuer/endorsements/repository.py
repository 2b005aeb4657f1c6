"""Endorsements in the database. Functions flush, never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.issuer.models import Credential, Endorsement

# The most endorsements a public listing names (newest first): what a verifier checks per credential.
PUBLIC_LIMIT = 20


def add(session: Session, row: Endorsement) -> None:
    session.add(row)


def by_endorser(session: Session, endorser_id: str) -> Sequence[tuple[Endorsement, Credential]]:
    return session.execute(select(Endorsement, Credential).join(Credential, Credential.id == Endorsement.id)
                           .where(Endorsement.endorser_id == endorser_id)
                           .order_by(Endorsement.created_at, Endorsement.id)).all()


def one(session: Session, endorser_id: str, endorsement_id: str) -> tuple[Endorsement, Credential] | None:
    row = session.execute(select(Endorsement, Credential).join(Credential, Credential.id == Endorsement.id)
                          .where(Endorsement.endorser_id == endorser_id, Endorsement.id == endorsement_id)).first()
    return (row[0], row[1]) if row else None


def about(session: Session, *, achievement_id: str | None, issuer_id: str) -> Sequence[Endorsement]:
    """The endorsements of an achievement (if given) and of its issuer, newest first, revoked ones too
    (a verifier shows a withdrawn endorsement as withdrawn)."""
    match = Endorsement.subject_issuer_id == issuer_id
    if achievement_id is not None:
        match = or_(match, Endorsement.achievement_id == achievement_id)
    return session.scalars(select(Endorsement).where(match)
                           .order_by(Endorsement.created_at.desc(), Endorsement.id).limit(PUBLIC_LIMIT)).all()


def standing(session: Session, endorser_id: str, *, achievement_id: str | None, subject_issuer_id: str | None) -> bool:
    """Whether the endorser has an unrevoked endorsement of this achievement (or this issuer)."""
    query = (select(Endorsement.id).join(Credential, Credential.id == Endorsement.id)
             .where(Endorsement.endorser_id == endorser_id, Credential.revoked_at.is_(None)))
    query = query.where(Endorsement.achievement_id == achievement_id) if achievement_id else \
        query.where(Endorsement.subject_issuer_id == subject_issuer_id)
    return session.scalar(query.limit(1)) is not None
