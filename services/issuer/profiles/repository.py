"""Profiles in the database. Every lookup by learner takes the issuer id: another issuer's learner has none.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.core.db import add_unless_taken
from services.issuer.models import LearnerProfile


def of_learner(session: Session, issuer_id: str, learner_id: str) -> LearnerProfile | None:
    return session.scalar(select(LearnerProfile).where(LearnerProfile.issuer_id == issuer_id,
                                                       LearnerProfile.learner_id == learner_id))


def by_id(session: Session, profile_id: str) -> LearnerProfile | None:
    return session.get(LearnerProfile, profile_id)


def add(session: Session, row: LearnerProfile) -> bool:
    """False when a concurrent request made the learner's profile first (the unique key decides)."""
    return add_unless_taken(session, row)


def remove(session: Session, issuer_id: str, learner_id: str) -> bool:
    result = session.execute(delete(LearnerProfile).where(LearnerProfile.issuer_id == issuer_id,
                                                          LearnerProfile.learner_id == learner_id)
                             .execution_options(synchronize_session=False))
    return result.rowcount > 0
