"""An issuer's API keys in the database (stored as SHA-256, never in clear).

Functions flush, never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from services.issuer.models import ApiKey, Issuer


def api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


# Built once: every authenticated request runs it (building it again costs about as much as SQLite's part).
_KEY_AND_ISSUER = (select(ApiKey, Issuer).join(Issuer, Issuer.id == ApiKey.issuer_id)
                   .where(ApiKey.key_hash == bindparam("key_hash")))


def api_key_and_issuer_by_hash(session: Session, key_hash: str) -> tuple[ApiKey, Issuer] | None:
    """The key and its issuer in one query (every authenticated request asks)."""
    row = session.execute(_KEY_AND_ISSUER, {"key_hash": key_hash}).first()
    return (row[0], row[1]) if row is not None else None


def api_keys(session: Session, issuer_id: str) -> Sequence[ApiKey]:
    return session.scalars(select(ApiKey).where(ApiKey.issuer_id == issuer_id).order_by(ApiKey.created_at)).all()


def api_key(session: Session, issuer_id: str, key_id: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.issuer_id == issuer_id, ApiKey.id == key_id))


def touch_api_key(session: Session, key_id: str, when: datetime) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=when))


def revoke_api_key(session: Session, issuer_id: str, key_id: str, when: datetime) -> bool:
    """First revocation wins: ``UPDATE … WHERE revoked_at IS NULL``; True if this call revoked it."""
    result = session.execute(update(ApiKey)
                             .where(ApiKey.issuer_id == issuer_id, ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                             .values(revoked_at=when)
                             .execution_options(synchronize_session=False))
    return result.rowcount == 1
