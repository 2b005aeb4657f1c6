"""Images and achievements in the database. Every tenant lookup takes the issuer id.

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.issuer.models import Achievement, Image


def image(session: Session, issuer_id: str, sha256: str) -> Image | None:
    return session.scalar(select(Image).where(Image.issuer_id == issuer_id, Image.sha256 == sha256))


def public_image(session: Session, sha256: str) -> Image | None:
    return session.scalar(select(Image).where(Image.sha256 == sha256).limit(1))


def achievement(session: Session, issuer_id: str, achievement_id: str) -> Achievement | None:
    return session.scalar(select(Achievement).where(Achievement.issuer_id == issuer_id,
                                                    Achievement.id == achievement_id))


def public_achievement(session: Session, achievement_id: str) -> Achievement | None:
    return session.get(Achievement, achievement_id)


def achievements(session: Session, issuer_id: str, level: str | None = None,
                 category: str | None = None) -> Sequence[Achievement]:
    query = select(Achievement).where(Achievement.issuer_id == issuer_id)
    if level is not None:
        query = query.where(Achievement.level == level)
    if category is not None:
        query = query.where(func.lower(Achievement.category) == category.lower())
    return session.scalars(query.order_by(Achievement.created_at, Achievement.id)).all()
