"""Endorsements in the database. Functions flush, never commit: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from services.issuer.models import Credential, Endorsement

# A public listing names the standing endorsements first (newest first, at most STANDING_LIMIT), then
# the latest withdrawn one of each endorser (at most WITHDRAWN_LIMIT): so an endorser who endorses and
# revokes again and again shows once, and cannot push anyone else's endorsement out of the list.
STANDING_LIMIT = 50
WITHDRAWN_LIMIT = 20


def by_endorser(session: Session, endorser_id: str) -> Sequence[tuple[Endorsement, Credential]]:
    return session.execute(select(Endorsement, Credential).join(Credential, Credential.id == Endorsement.id)
                           .where(Endorsement.endorser_id == endorser_id)
                           .order_by(Endorsement.created_at, Endorsement.id)).all()


def one(session: Session, endorser_id: str, endorsement_id: str) -> tuple[Endorsement, Credential] | None:
    row = session.execute(select(Endorsement, Credential).join(Credential, Credential.id == Endorsement.id)
                          .where(Endorsement.endorser_id == endorser_id, Endorsement.id == endorsement_id)).first()
    return (row[0], row[1]) if row else None


def about(session: Session, *, achievement_id: str | None, issuer_id: str) -> list[Endorsement]:
    """The endorsements of an achievement (if given) and of its issuer: the standing ones, newest first,
    then the latest revoked one per endorser (a verifier shows a withdrawn endorsement as withdrawn)."""
    match = Endorsement.subject_issuer_id == issuer_id
    if achievement_id is not None:
        match = or_(match, Endorsement.achievement_id == achievement_id)
    newest = (Endorsement.created_at.desc(), Endorsement.id)
    standing = session.scalars(select(Endorsement).where(match, Endorsement.standing)
                               .order_by(*newest).limit(STANDING_LIMIT)).all()
    rank = func.row_number().over(partition_by=Endorsement.endorser_id, order_by=newest).label("rank")
    withdrawn = select(Endorsement.id, rank).where(match, Endorsement.standing.is_(False)).subquery()
    latest = session.scalars(select(Endorsement).join(withdrawn, withdrawn.c.id == Endorsement.id)
                             .where(withdrawn.c.rank == 1).order_by(*newest).limit(WITHDRAWN_LIMIT)).all()
    return [*standing, *latest]


def withdraw(session: Session, endorsement_id: str) -> Endorsement | None:
    """Mark an endorsement no longer standing (its credential was just revoked); the row if this call did."""
    result = session.execute(update(Endorsement).where(Endorsement.id == endorsement_id, Endorsement.standing)
                             .values(standing=False).execution_options(synchronize_session=False))
    return session.get(Endorsement, endorsement_id, populate_existing=True) if result.rowcount == 1 else None


def standing(session: Session, endorser_id: str, *, achievement_id: str | None, subject_issuer_id: str | None) -> bool:
    """Whether the endorser has a standing (unrevoked) endorsement of this achievement (or this issuer).

    A quick answer for the common case; the partial unique indexes decide under concurrency."""
    query = select(Endorsement.id).where(Endorsement.endorser_id == endorser_id, Endorsement.standing)
    query = query.where(Endorsement.achievement_id == achievement_id) if achievement_id else \
        query.where(Endorsement.subject_issuer_id == subject_issuer_id)
    return session.scalar(query.limit(1)) is not None
